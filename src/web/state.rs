//! The page's state and how each event (a URL change, a fetched file, a worker message, a click)
//! changes it: one reducer, so every transition is in one place.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use serde_json::Value;
use wasm_bindgen::JsValue;
use yew::prelude::*;

use super::protocol::{LoadTimings, Response};
use super::url::UrlState;
use crate::assets::reproduce::{Figures, Mode, Size};
use crate::assets::{AssetManifest, Example, PoolTexts};
use crate::metrics::LanguageMatrix;

/// The page-only half of [`UrlState`]: reading and writing the address bar.
pub trait AddressBar {
    fn from_location() -> Self;
    fn push(&self);
}

impl AddressBar for UrlState {
    fn from_location() -> UrlState {
        let search = web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default();
        UrlState::from_query(&search)
    }

    fn push(&self) {
        if let Some(w) = web_sys::window() {
            if let Ok(h) = w.history() {
                let _ = h.replace_state_with_url(&JsValue::NULL, "", Some(&format!("?{}", self.to_query())));
            }
        }
    }
}

/// Files the page itself reads first (the worker fetches the model files; pool texts and sweep
/// results come when a view needs them, see [`Lazy`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub manifest: AssetManifest,
    pub manifest_sha256: String,
    pub examples: Vec<Example>,
}

/// Files fetched on first use: a visitor who never opens the second pool or the plots never
/// downloads them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Lazy {
    pub pools: HashMap<String, Rc<PoolTexts>>,
    pub results: Option<Rc<Value>>,
    /// Files being fetched, so a re-render does not start a second download.
    pub requested: std::collections::HashSet<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub hits: Vec<(u32, f32)>,
    pub relevant: Vec<(u32, usize)>,
    pub encode_ms: f64,
    pub rank_ms: f64,
    pub words_ms: f64,
    pub word_bytes: u64,
    pub tokens: usize,
    pub unknown: usize,
    /// Characters the worker cut from an over-long query.
    pub cut_chars: usize,
    pub pool: String,
    pub query: String,
    pub relevant_query: bool,
}

/// One model's language matrix of one question (the bias view).
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixOutcome {
    pub qid: String,
    pub matrix: LanguageMatrix,
    pub encode_ms: f64,
    pub tokens: usize,
}

/// The Reproduce view's latest run.
#[derive(Debug, Clone, PartialEq)]
pub struct ReproduceRun {
    pub id: u64,
    pub model: String,
    pub task: String,
    pub size: Size,
    pub mode: Mode,
    /// (stage, done, total, elapsed ms) of the latest progress report.
    pub progress: Option<(String, u64, u64, f64)>,
    pub outcome: Option<Reproduced>,
    pub cancelled: bool,
    pub error: Option<String>,
}

/// A finished Reproduce run of a checkpoint the user brought.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRun {
    pub model: String,
    pub task: String,
    pub size: Size,
    pub figures: Figures,
}

/// What a finished run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Reproduced {
    pub figures: Figures,
    pub queries: usize,
    pub pool: usize,
    pub queries_ms: f64,
    pub pool_ms: f64,
    pub score_ms: f64,
    pub words_ms: f64,
    pub word_bytes: u64,
}

impl ReproduceRun {
    pub fn new(id: u64, model: String, task: String, size: Size, mode: Mode) -> Self {
        ReproduceRun { id, model, task, size, mode, progress: None, outcome: None, cancelled: false, error: None }
    }

    pub fn running(&self) -> bool {
        self.outcome.is_none() && !self.cancelled && self.error.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct State {
    pub url: Option<UrlState>,
    pub loaded: Option<Rc<Loaded>>,
    pub lazy: Lazy,
    /// (what, done, total, counts texts rather than bytes).
    pub progress: Option<(String, u64, u64, bool)>,
    pub backend: Option<(String, Option<String>)>,
    /// The technical reason behind the backend's note, where something failed.
    pub backend_detail: Option<String>,
    pub timings: Option<LoadTimings>,
    pub ready_models: Vec<String>,
    /// The worker has said it listens (see [`Response::Listening`]).
    pub worker_listening: bool,
    pub results: BTreeMap<String, Outcome>,
    pub error: Option<String>,
    pub searching: bool,
    pub pending: HashMap<u64, (String, String, String, bool)>,
    /// The bias view's matrices by model (the latest question asked of each), and requests in
    /// flight: id -> (model, question id). Apart from `results`, so a search and a matrix never
    /// replace each other.
    pub matrices: BTreeMap<String, MatrixOutcome>,
    /// Checkpoints the user brought, (name, label), and the one being added. They live in the
    /// worker only: a new worker (after a crash) starts without them.
    pub user_models: Vec<(String, String)>,
    /// The alpha each of them was trained with (its place on the plots' x axis).
    pub user_alpha: BTreeMap<String, f64>,
    /// Their finished Reproduce runs (the latest per model, task and size): their points on
    /// the robustness plots.
    pub user_runs: Vec<UserRun>,
    pub adding: Option<u64>,
    pub pending_matrix: HashMap<u64, (String, String)>,
    /// Workers started after a crash; each crash starts a fresh one (up to [`MAX_RESTARTS`]).
    pub restarts: u32,
    /// A crashed worker is being replaced: further crash reports of the dying one (each
    /// request queued in it traps again) change nothing, until the new one listens.
    pub replacing: bool,
    /// Times the visitor asked to retry a failed load (the load is sent again).
    pub retries: u32,
    pub reproduce: Option<ReproduceRun>,
}

/// Crashes after which the page stops restarting the worker (the fault is not transient).
pub const MAX_RESTARTS: u32 = 3;

pub enum Action {
    Url(UrlState),
    Loaded(Rc<Loaded>),
    Requested(String),
    PoolTexts(String, Rc<PoolTexts>),
    Results(Rc<Value>),
    Failed(String),
    Worker(Response),
    Sent(Vec<(u64, String, String, String, bool)>),
    /// A checkpoint sent to the worker to be added.
    AddSent(u64),
    /// Matrix requests sent: (id, model, question id).
    MatrixSent(Vec<(u64, String, String)>),
    /// A reproduction sent to the worker (it replaces the previous run's outcome).
    ReproduceSent(ReproduceRun),
    Retry,
}

impl Reducible for State {
    type Action = Action;
    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            Action::Url(u) => {
                u.push();
                s.url = Some(u);
            }
            Action::Loaded(l) => s.loaded = Some(l),
            Action::Retry => {
                s.retries += 1;
                s.error = None;
            }
            Action::Requested(path) => {
                s.lazy.requested.insert(path);
            }
            Action::PoolTexts(name, texts) => {
                s.lazy.pools.insert(name, texts);
            }
            Action::Results(r) => s.lazy.results = Some(r),
            Action::Failed(e) => s.error = Some(e),
            Action::Sent(list) => {
                s.searching = true;
                // Latest wins: a newer search for a model drops the older one still in flight,
                // whose results are then ignored when they arrive.
                s.pending.retain(|_, (m, ..)| !list.iter().any(|(_, lm, ..)| lm == m));
                for (id, model, pool, query, rel) in list {
                    s.pending.insert(id, (model, pool, query, rel));
                }
            }
            Action::AddSent(id) => {
                s.adding = Some(id);
                s.error = None;
            }
            Action::MatrixSent(list) => {
                // Latest wins per model, as for searches.
                s.pending_matrix.retain(|_, (m, _)| !list.iter().any(|(_, lm, _)| lm == m));
                for (id, model, qid) in list {
                    s.pending_matrix.insert(id, (model, qid));
                }
            }
            Action::ReproduceSent(run) => {
                s.reproduce = Some(run);
                s.error = None;
            }
            Action::Worker(r) => match r {
                Response::Reproducing { id, stage, done, total, elapsed_ms } => {
                    if let Some(run) = s.reproduce.as_mut().filter(|r| r.id == id) {
                        run.progress = Some((stage, done, total, elapsed_ms));
                    }
                    // The word-table download that precedes the queries is done.
                    s.progress = None;
                }
                Response::Reproduced { id, figures, queries, pool, queries_ms, pool_ms, score_ms, words_ms, word_bytes, .. } => {
                    if let Some(run) = s.reproduce.as_mut().filter(|r| r.id == id) {
                        if s.user_models.iter().any(|(n, _)| *n == run.model) {
                            let user = UserRun { model: run.model.clone(), task: run.task.clone(), size: run.size, figures: figures.clone() };
                            s.user_runs.retain(|u| (&u.model, &u.task, u.size) != (&user.model, &user.task, user.size));
                            s.user_runs.push(user);
                        }
                        run.outcome = Some(Reproduced { figures, queries, pool, queries_ms, pool_ms, score_ms, words_ms, word_bytes });
                    }
                    s.progress = None;
                }
                Response::Cancelled { id } => {
                    if let Some(run) = s.reproduce.as_mut().filter(|r| r.id == id) {
                        run.cancelled = true;
                    }
                    s.progress = None;
                }
                Response::Listening => {
                    s.worker_listening = true;
                    s.replacing = false;
                }
                Response::Progress { what, done, total } => s.progress = Some((what, done, total, false)),
                Response::Encoding { what, done, total } => s.progress = Some((what, done, total, true)),
                Response::CheckpointAdded { id, name, label, alpha, .. } => {
                    s.user_alpha.insert(name.clone(), alpha);
                    if s.adding == Some(id) {
                        s.adding = None;
                    }
                    s.user_models.retain(|(n, _)| *n != name);
                    s.user_models.push((name.clone(), label));
                    // Shown at once: the search view switches to it.
                    if let Some(u) = s.url.as_mut() {
                        u.model = name.clone();
                        u.push();
                    }
                    if !s.ready_models.contains(&name) {
                        s.ready_models.push(name);
                    }
                    s.progress = None;
                    s.error = None;
                }
                Response::Ready { backend, note, detail, models, timings } => {
                    s.progress = None;
                    s.backend = Some((backend, note));
                    s.backend_detail = detail;
                    // Loads after the first add only the newly requested models: keep totals.
                    s.timings = Some(match s.timings.take() {
                        Some(t) => LoadTimings {
                            download_ms: t.download_ms + timings.download_ms,
                            bytes: t.bytes + timings.bytes,
                            from_cache: t.from_cache + timings.from_cache,
                            build_ms: t.build_ms + timings.build_ms,
                            warmup_ms: t.warmup_ms + timings.warmup_ms,
                        },
                        None => timings,
                    });
                    s.ready_models = models;
                }
                Response::Results { id, model, hits, relevant, encode_ms, rank_ms, words_ms, word_bytes, tokens, unknown_tokens, cut_chars } => {
                    if let Some((_, pool, query, rel)) = s.pending.remove(&id) {
                        s.results.insert(
                            model,
                            Outcome {
                                hits: hits.iter().map(|h| (h.candidate, h.score)).collect(),
                                relevant: relevant.iter().map(|r| (r.candidate, r.rank)).collect(),
                                encode_ms,
                                rank_ms,
                                words_ms,
                                word_bytes,
                                tokens,
                                unknown: unknown_tokens,
                                cut_chars,
                                pool,
                                query,
                                relevant_query: rel,
                            },
                        );
                    }
                    s.searching = !s.pending.is_empty();
                    // Word shards a search fetched report progress too; done now.
                    s.progress = None;
                    s.error = None;
                }
                Response::Matrix { id, model, matrix, encode_ms, tokens } => {
                    if let Some((_, qid)) = s.pending_matrix.remove(&id) {
                        s.matrices.insert(model, MatrixOutcome { qid, matrix, encode_ms, tokens });
                    }
                    s.progress = None;
                    s.error = None;
                }
                // The worker being replaced reports again (its trap's error event follows the
                // panic message; each queued request traps): the restart message stays.
                Response::Crashed { .. } if s.replacing => {}
                // A worker that never listened failed to start: no restart, say why.
                Response::Crashed { message } if !s.worker_listening => s.error = Some(message),
                Response::Crashed { message } => {
                    s.replacing = true;
                    s.pending.clear();
                    s.pending_matrix.clear();
                    if let Some(run) = s.reproduce.as_mut().filter(|r| r.running()) {
                        run.error = Some("the engine crashed during the run".into());
                    }
                    s.user_models.clear();
                    s.user_runs.clear();
                    s.adding = None;
                    s.searching = false;
                    s.progress = None;
                    s.worker_listening = false;
                    s.ready_models.clear();
                    s.restarts += 1;
                    s.error = Some(if s.restarts <= MAX_RESTARTS {
                        format!("{message}. The engine was restarted; your query runs again once it is ready.")
                    } else {
                        format!("{message}. The engine crashed {MAX_RESTARTS} times; reload the page to try again.")
                    });
                }
                // The page never asks for bare vectors (the bench harness does).
                Response::Embedded { .. } => {}
                Response::Error { id, message } => {
                    if let Some(id) = id {
                        s.pending.remove(&id);
                        s.pending_matrix.remove(&id);
                        if let Some(run) = s.reproduce.as_mut().filter(|r| r.id == id) {
                            run.error = Some(message.clone());
                        }
                        if s.adding == Some(id) {
                            s.adding = None;
                        }
                    } else {
                        // A request the worker refused before reading its id: never leave the
                        // checkpoint picker disabled waiting for an answer that will not come.
                        s.adding = None;
                    }
                    s.searching = !s.pending.is_empty();
                    s.progress = None;
                    s.error = Some(message);
                }
            },
        }
        Rc::new(s)
    }
}

