//! The page: query box, language and model pickers, ranked multilingual results with the
//! per-language bias strip, side-by-side comparison, robustness plots, and a URL that restores
//! all of it. Inference happens in the worker ([`super::worker`]); this thread only renders.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use super::charts;
use super::fetch::{fetch_plain, fetch_verified};
use super::protocol::{LoadTimings, Request, Response};
use crate::assets::{AssetManifest, Example, FileEntry, PoolTexts};

const ASSETS: &str = "assets";
pub use super::url::{UrlState, MAX_QUERY_CHARS, MKQA_LANGS};

/// The page-only half of [`UrlState`]: reading and writing the address bar.
trait AddressBar {
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

#[derive(Debug, Clone, PartialEq, Default)]
pub struct State {
    pub url: Option<UrlState>,
    pub loaded: Option<Rc<Loaded>>,
    pub lazy: Lazy,
    pub progress: Option<(String, u64, u64)>,
    pub backend: Option<(String, Option<String>)>,
    pub timings: Option<LoadTimings>,
    pub ready_models: Vec<String>,
    /// The worker has said it listens (see [`Response::Listening`]).
    pub worker_listening: bool,
    pub results: BTreeMap<String, Outcome>,
    pub error: Option<String>,
    pub searching: bool,
    pub pending: HashMap<u64, (String, String, String, bool)>,
    /// Workers started after a crash; each crash starts a fresh one (up to [`MAX_RESTARTS`]).
    pub restarts: u32,
    /// Times the visitor asked to retry a failed load (the load is sent again).
    pub retries: u32,
}

/// Crashes after which the page stops restarting the worker (the fault is not transient).
const MAX_RESTARTS: u32 = 3;

pub enum Action {
    Url(UrlState),
    Loaded(Rc<Loaded>),
    Requested(String),
    PoolTexts(String, Rc<PoolTexts>),
    Results(Rc<Value>),
    Failed(String),
    Worker(Response),
    Sent(Vec<(u64, String, String, String, bool)>),
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
            Action::Worker(r) => match r {
                Response::Listening => s.worker_listening = true,
                Response::Progress { what, done, total } => s.progress = Some((what, done, total)),
                Response::Ready { backend, note, models, timings } => {
                    s.progress = None;
                    s.backend = Some((backend, note));
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
                // A worker that never listened (failed to start), or one already being replaced
                    // (its trap's error event follows the panic message): no further restart.
                Response::Crashed { message } if !s.worker_listening => s.error = Some(message),
                Response::Crashed { message } => {
                    s.pending.clear();
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
                Response::Error { id, message } => {
                    if let Some(id) = id {
                        s.pending.remove(&id);
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

async fn load_files() -> Result<Loaded, String> {
    let bytes = fetch_plain(&format!("{ASSETS}/manifest.json"), 0, &mut |_, _| {}).await.map_err(|e| {
        format!("{e}. The web assets are missing: run `scripts/demo` (it builds them with `hybrid-ir web-assets`).")
    })?;
    let manifest: AssetManifest = serde_json::from_slice(&bytes).map_err(|e| format!("{ASSETS}/manifest.json is not a valid manifest: {e}"))?;
    let manifest_sha256 = crate::model::sha256_hex(&bytes);
    let (ex, _) = fetch_verified(ASSETS, &manifest.examples, &mut |_, _| {}).await?;
    let examples: Vec<Example> = serde_json::from_slice(&ex).map_err(|e| format!("{}: {e}", manifest.examples.path))?;
    Ok(Loaded { manifest, manifest_sha256, examples })
}

/// Fetches a verified JSON file of the bundle once, then hands it to `done`.
fn fetch_lazy<T: serde::de::DeserializeOwned + 'static>(state: &UseReducerHandle<State>, entry: &FileEntry, done: impl FnOnce(Rc<T>) -> Action + 'static) {
    if state.lazy.requested.contains(&entry.path) {
        return;
    }
    state.dispatch(Action::Requested(entry.path.clone()));
    let (state, entry) = (state.clone(), entry.clone());
    wasm_bindgen_futures::spawn_local(async move {
        let parsed = match fetch_verified(ASSETS, &entry, &mut |_, _| {}).await {
            Ok((bytes, _)) => serde_json::from_slice::<T>(&bytes).map_err(|e| format!("{}: {e}", entry.path)),
            Err(e) => Err(e),
        };
        state.dispatch(match parsed {
            Ok(v) => done(Rc::new(v)),
            Err(e) => Action::Failed(e),
        });
    });
}

fn worker_send(worker: &web_sys::Worker, req: &Request) {
    if let Ok(v) = serde_wasm_bindgen::to_value(req) {
        let _ = worker.post_message(&v);
    }
}

fn short(sha: &str) -> String {
    sha.chars().take(12).collect()
}

fn model_label(m: &crate::assets::ModelEntry) -> String {
    match m.alpha {
        Some(a) => format!("alpha = {a} (seed {})", m.seed.unwrap_or(0)),
        None => "base (no fine-tuning)".into(),
    }
}

/// Starts the inference worker and routes its messages into the page's state.
fn start_worker(state: &UseReducerHandle<State>, worker: &Rc<std::cell::RefCell<Option<web_sys::Worker>>>) {
    let opts = web_sys::WorkerOptions::new();
    match web_sys::Worker::new_with_options("./hybrid-ir-worker_loader.js", &opts) {
        Ok(w) => {
            let s = state.clone();
            let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                match serde_wasm_bindgen::from_value::<Response>(e.data()) {
                    Ok(r) => s.dispatch(Action::Worker(r)),
                    Err(err) => s.dispatch(Action::Failed(format!("unreadable worker message: {err}"))),
                }
            });
            w.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            on_message.forget();
            let s = state.clone();
            let on_error = Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(move |e: web_sys::ErrorEvent| {
                // Uncaught errors in the worker (a wasm trap) end up here.
                s.dispatch(Action::Worker(Response::Crashed { message: format!("the inference worker failed: {}", e.message()) }));
            });
            w.set_onerror(Some(on_error.as_ref().unchecked_ref()));
            on_error.forget();
            *worker.borrow_mut() = Some(w);
        }
        Err(_) => state.dispatch(Action::Failed("this browser cannot start Web Workers".into())),
    }
}

#[component]
pub fn App() -> Html {
    let state = use_reducer(State::default);
    let worker = use_mut_ref(|| None::<web_sys::Worker>);
    // Request ids live outside the reducer: callbacks made in an earlier render must not reuse one.
    let next_id = use_mut_ref(|| 0u64);
    let input = use_node_ref();

    // Start: read the URL, fetch the page's files, start the worker.
    {
        let state = state.clone();
        let worker = worker.clone();
        use_effect_with((), move |_| {
            state.dispatch(Action::Url(UrlState::from_location()));
            start_worker(&state, &worker);
            let s = state.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match load_files().await {
                    Ok(l) => s.dispatch(Action::Loaded(Rc::new(l))),
                    Err(e) => s.dispatch(Action::Failed(e)),
                }
            });
        });
    }

    // A crashed worker is replaced by a fresh one; the model load below then runs again (the
    // new worker says it listens) and so does the URL's query.
    {
        let state = state.clone();
        let worker = worker.clone();
        use_effect_with(state.restarts, move |restarts| {
            if *restarts > 0 && *restarts <= MAX_RESTARTS {
                if let Some(old) = worker.borrow_mut().take() {
                    old.terminate();
                }
                start_worker(&state, &worker);
            }
        });
    }

    let url = state.url.clone().unwrap_or_else(|| UrlState::from_location());
    let loaded = state.loaded.clone();
    let model = loaded
        .as_ref()
        .map(|l| if l.manifest.models.iter().any(|m| m.name == url.model) { url.model.clone() } else { l.manifest.default_model.clone() })
        .unwrap_or_default();
    let models_wanted: Vec<String> = {
        let mut v = vec![model.clone()];
        if !url.cmp.is_empty() && url.cmp != model && loaded.as_ref().is_some_and(|l| l.manifest.models.iter().any(|m| m.name == url.cmp)) {
            v.push(url.cmp.clone());
        }
        v
    };

    // Fetch the texts of the chosen pool, and the sweep results once the plots are opened.
    {
        let state = state.clone();
        use_effect_with((url.pool.clone(), url.view.clone(), loaded.is_some()), move |(pool, view, _)| {
            if let Some(l) = state.loaded.clone() {
                if let Some(p) = l.manifest.pools.iter().find(|p| &p.name == pool) {
                    if !state.lazy.pools.contains_key(pool) {
                        let name = pool.clone();
                        fetch_lazy(&state, &p.texts, move |t| Action::PoolTexts(name, t));
                    }
                }
                if view == "charts" && state.lazy.results.is_none() {
                    if let Some(r) = &l.manifest.results {
                        fetch_lazy(&state, r, Action::Results);
                    }
                }
            }
        });
    }

    // (Re)load models in the worker whenever the wanted set changes.
    {
        let worker = worker.clone();
        let ready = loaded.is_some() && state.worker_listening;
        let cpu = url.cpu;
        let pool = url.pool.clone();
        use_effect_with((models_wanted.clone(), ready, state.retries), move |(models, ready, _)| {
            if *ready && !models[0].is_empty() {
                if let Some(w) = worker.borrow().as_ref() {
                    worker_send(w, &Request::Load { assets: ASSETS.into(), models: models.clone(), pool: pool.clone(), cpu_only: cpu });
                }
            }
        });
    }

    let run_search = {
        let state = state.clone();
        let worker = worker.clone();
        let models_wanted = models_wanted.clone();
        let next_id = next_id.clone();
        Callback::from(move |u: UrlState| {
            let Some(loaded) = state.loaded.clone() else { return };
            let q = u.q.trim().to_string();
            if q.is_empty() {
                return;
            }
            let example = loaded.examples.iter().find(|e| e.text == q && e.pool.as_deref() == Some(u.pool.as_str()));
            let relevant = example.map(|e| e.relevant.clone()).unwrap_or_default();
            let mut sent = Vec::new();
            if let Some(w) = worker.borrow().as_ref() {
                for m in models_wanted.iter() {
                    let id = {
                        let mut n = next_id.borrow_mut();
                        *n += 1;
                        *n
                    };
                    worker_send(w, &Request::Search { id, model: m.clone(), pool: u.pool.clone(), query: q.clone(), k: 10, relevant: relevant.clone() });
                    sent.push((id, m.clone(), u.pool.clone(), q.clone(), example.is_some()));
                }
            }
            state.dispatch(Action::Sent(sent));
        })
    };

    // Re-run the URL's query once the models are ready (opening a shared link).
    {
        let run_search = run_search.clone();
        let url = url.clone();
        let ready = models_wanted.iter().all(|m| state.ready_models.contains(m));
        use_effect_with((ready, models_wanted.clone(), url.pool.clone()), move |(ready, _, _)| {
            if *ready && !url.q.trim().is_empty() {
                run_search.emit(url);
            }
        });
    }

    let set_url = {
        let state = state.clone();
        move |f: &dyn Fn(&mut UrlState)| {
            let mut u = state.url.clone().unwrap_or_else(UrlState::from_location);
            f(&mut u);
            state.dispatch(Action::Url(u));
        }
    };
    // A query typed or picked: into the URL, then searched.
    let submit_query = {
        let state = state.clone();
        let run_search = run_search.clone();
        Callback::from(move |text: String| {
            let mut u = state.url.clone().unwrap_or_else(UrlState::from_location);
            u.q = text.chars().take(MAX_QUERY_CHARS).collect();
            u.q_cut = text.chars().count().saturating_sub(MAX_QUERY_CHARS);
            state.dispatch(Action::Url(u.clone()));
            run_search.emit(u);
        })
    };
    let on_submit = {
        let input = input.clone();
        let submit_query = submit_query.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            submit_query.emit(input.cast::<web_sys::HtmlInputElement>().map(|i| i.value()).unwrap_or_default());
        })
    };
    let select = |key: &'static str| {
        let set_url = set_url.clone();
        Callback::from(move |e: Event| {
            let v = e.target_unchecked_into::<web_sys::HtmlSelectElement>().value();
            set_url(&|u: &mut UrlState| match key {
                "lang" => u.lang = v.clone(),
                "pool" => u.pool = v.clone(),
                "model" => u.model = v.clone(),
                "cmp" => u.cmp = v.clone(),
                "task" => u.task = v.clone(),
                "heat" => u.heat = v.clone(),
                "hm" => u.hm = v.clone(),
                _ => {}
            });
        })
    };
    let on_example = {
        let input = input.clone();
        Callback::from(move |e: Event| {
            let v = e.target_unchecked_into::<web_sys::HtmlSelectElement>().value();
            if v.is_empty() {
                return;
            }
            if let Some(i) = input.cast::<web_sys::HtmlInputElement>() {
                i.set_value(&v);
            }
            submit_query.emit(v);
        })
    };
    let view_tab = |name: &'static str| {
        let set_url = set_url.clone();
        Callback::from(move |_: MouseEvent| set_url(&|u: &mut UrlState| u.view = name.to_string()))
    };

    let status = {
        let backend = state.backend.as_ref().map(|(b, note)| {
            html! {
                <span class={classes!("badge", if b == "WebGPU" { "gpu" } else { "cpu" })} data-testid="backend" title={note.clone().unwrap_or_default()}>
                    { b.clone() }
                </span>
            }
        });
        let note = state.backend.as_ref().and_then(|(_, n)| n.clone()).map(|n| html! { <span class="muted">{ format!(" ({n})") }</span> });
        let progress = state.progress.as_ref().map(|(what, done, total)| {
            let pct = if *total > 0 { 100.0 * *done as f64 / *total as f64 } else { 0.0 };
            html! {
                <span class="progress" data-testid="progress">
                    { format!("loading {what}: {:.1} / {:.1} MB ", *done as f64 / 1e6, *total as f64 / 1e6) }
                    <progress max="100" value={format!("{pct:.0}")} />
                </span>
            }
        });
        let timings = state.timings.as_ref().map(|t| {
            html! {
                <span class="muted" data-testid="timings">
                    { format!(
                        " download {:.1} s ({:.1} MB, {:.1} MB from cache) \u{00b7} build {:.1} s \u{00b7} warm-up {:.2} s",
                        t.download_ms / 1e3, t.bytes as f64 / 1e6, t.from_cache as f64 / 1e6, t.build_ms / 1e3, t.warmup_ms / 1e3
                    ) }
                </span>
            }
        });
        let waiting = (state.backend.is_none() && state.progress.is_none() && state.error.is_none()).then(|| html! { <span class="muted">{ "starting the engine\u{2026}" }</span> });
        html! { <div class="status">{ backend }{ note }{ progress }{ timings }{ waiting }</div> }
    };

    let error = state.error.as_ref().map(|e| {
        let retry = {
            let state = state.clone();
            Callback::from(move |_: MouseEvent| state.dispatch(Action::Retry))
        };
        html! {
            <div class="error" role="alert" data-testid="error">
                { e.clone() }
                <button data-testid="retry" onclick={retry}>{ "Retry" }</button>
            </div>
        }
    });
    let cut = (url.q_cut > 0).then(|| html! {
        <p class="muted" data-testid="query-cut">{ format!("The query was cut to its first {MAX_QUERY_CHARS} characters ({} more were dropped).", url.q_cut) }</p>
    });

    let body = match &loaded {
        None => html! { <p class="muted">{ "Loading the manifest\u{2026}" }</p> },
        Some(l) if url.view == "charts" && l.manifest.results.is_none() => html! { <p>{ "No sweep results in this bundle yet." }</p> },
        Some(_) if url.view == "charts" && state.lazy.results.is_none() => html! { <p class="muted">{ "Loading the sweep results\u{2026}" }</p> },
        Some(l) if url.view == "charts" => {
            let results = state.lazy.results.as_deref().expect("checked above");
            let task_list = charts::tasks(results);
            let task = if task_list.contains(&url.task) { url.task.clone() } else { task_list.first().cloned().unwrap_or_default() };
            let heat_model = if l.manifest.models.iter().any(|m| m.name == url.heat) { url.heat.clone() } else { model.clone() };
            html! {
                <section class="charts">
                    <label>{ "task " }
                        <select onchange={select("task")} data-testid="task">
                            { for task_list.iter().map(|t| html! { <option value={t.clone()} selected={*t == task}>{ t.clone() }</option> }) }
                        </select>
                    </label>
                    <h3>{ "Retrieval quality vs alpha" }</h3>
                    <p class="muted">{ "Mo.: query and pool in one language; Cr.: pool in another language; Mul.: one pool of all languages, where every language's answer must rank high. Each point: the change versus the base model, averaged over the training seeds; whiskers: the seeds' standard deviation; filled: the paired 95% bootstrap interval versus the base excludes zero. The table gives the paired differences between alphas." }</p>
                    { charts::map_vs_alpha(results, &task) }
                    <h3>{ "Language bias vs alpha" }</h3>
                    <p class="muted">{ "For each question, how far apart (in ranks) the best answers of the different languages land; lower means the model treats languages alike." }</p>
                    { charts::bias_vs_alpha(results, &task) }
                    <h3>{ "Language pairs" }
                        <select onchange={select("heat")} data-testid="heat">
                            { for l.manifest.models.iter().map(|m| html! { <option value={m.name.clone()} selected={m.name == heat_model}>{ model_label(m) }</option> }) }
                        </select>
                    </h3>
                    <label>{ "show " }
                        <select onchange={select("hm")} data-testid="hm">
                            <option value="" selected={url.hm.is_empty()}>{ "mAP" }</option>
                            <option value="delta" selected={url.hm == "delta"}>{ "change vs base" }</option>
                        </select>
                    </label>
                    { charts::pair_heatmap(results, &heat_model, &task, url.hm == "delta") }
                </section>
            }
        }
        Some(l) => {
            let examples: Vec<&Example> = l.examples.iter().filter(|e| e.lang == url.lang && (e.pool.is_none() || e.pool.as_deref() == Some(url.pool.as_str()))).collect();
            let mut langs: Vec<(String, String)> = MKQA_LANGS.iter().map(|(c, n)| (c.to_string(), n.to_string())).collect();
            for e in &l.examples {
                if !langs.iter().any(|(c, _)| *c == e.lang) {
                    langs.push((e.lang.clone(), e.lang.clone()));
                }
            }
            let columns = models_wanted.iter().map(|m| result_column(l, &state.lazy, m, state.results.get(m), &url.pool));
            html! {
                <>
                <form class="controls" onsubmit={on_submit}>
                    <label>{ "language " }
                        <select onchange={select("lang")} data-testid="lang">
                            { for langs.iter().map(|(c, n)| html! { <option value={c.clone()} selected={*c == url.lang}>{ format!("{n} ({c})") }</option> }) }
                        </select>
                    </label>
                    <label>{ "example " }
                        <select onchange={on_example} data-testid="examples">
                            // Selection follows the query, so a language switch never leaves another
                            // language's question showing.
                            <option value="" selected={!examples.iter().any(|e| e.text == url.q)}>{ format!("{} example questions\u{2026}", examples.len()) }</option>
                            { for examples.iter().map(|e| html! { <option value={e.text.clone()} selected={e.text == url.q}>{ e.text.clone() }</option> }) }
                        </select>
                    </label>
                    <input ref={input.clone()} type="search" data-testid="query" maxlength={MAX_QUERY_CHARS.to_string()} value={url.q.clone()}
                        placeholder="Ask a question in any language" aria-label="query" />
                    <button type="submit" data-testid="search" disabled={state.backend.is_none()}>{ if state.searching { "Searching\u{2026}" } else { "Search" } }</button>
                    <label>{ "pool " }
                        <select onchange={select("pool")} data-testid="pool">
                            { for l.manifest.pools.iter().map(|p| html! { <option value={p.name.clone()} selected={p.name == url.pool}>{ p.title.clone() }</option> }) }
                        </select>
                    </label>
                    <label>{ "model " }
                        <select onchange={select("model")} data-testid="model">
                            { for l.manifest.models.iter().map(|m| html! { <option value={m.name.clone()} selected={m.name == model}>{ model_label(m) }</option> }) }
                        </select>
                    </label>
                    <label>{ "compare with " }
                        <select onchange={select("cmp")} data-testid="cmp">
                            <option value="" selected={url.cmp.is_empty()}>{ "nothing" }</option>
                            { for l.manifest.models.iter().map(|m| html! { <option value={m.name.clone()} selected={m.name == url.cmp}>{ model_label(m) }</option> }) }
                        </select>
                    </label>
                </form>
                <div class="columns">{ for columns }</div>
                </>
            }
        }
    };

    let footer = loaded.as_ref().map(|l| {
        let m = &l.manifest;
        let model_sha = m.models.iter().find(|x| x.name == model).map(|x| short(&x.sha256)).unwrap_or_default();
        html! {
            <footer data-testid="provenance">
                { format!(
                    "git {} \u{00b7} bundle manifest {} \u{00b7} base model {} \u{00b7} model {model} {model_sha} \u{00b7} word table {} tokens in {} shards, fetched as queries need them{} \u{00b7} data: {}",
                    short(&m.git_commit), short(&l.manifest_sha256), short(&m.base_sha256), m.words.rows, m.words.sha256.len(),
                    m.pool_limit.map(|n| format!(" \u{00b7} test bundle: pools cut to about {n} candidates")).unwrap_or_default(),
                    m.data.iter().map(|d| format!("{} {}", d.path, short(&d.sha256))).collect::<Vec<_>>().join(", ")
                ) }
            </footer>
        }
    });

    html! {
        <main>
            <header>
                <h1>{ "hybrid-ir" }</h1>
                <p class="lead">{ "Ask in one language, find answers in twelve. Encoders fine-tuned with a share alpha of monolingual batches run here, in your browser; watch where each language's answer lands." }</p>
                <nav>
                    <button class={classes!("tab", (url.view == "search").then_some("active"))} onclick={view_tab("search")} data-testid="tab-search">{ "Search" }</button>
                    <button class={classes!("tab", (url.view == "charts").then_some("active"))} onclick={view_tab("charts")} data-testid="tab-charts">{ "Robustness plots" }</button>
                </nav>
                { status }
            </header>
            { error.unwrap_or_default() }
            { cut.unwrap_or_default() }
            { body }
            { footer.unwrap_or_default() }
        </main>
    }
}

fn result_column(l: &Loaded, lazy: &Lazy, model: &str, outcome: Option<&Outcome>, pool: &str) -> Html {
    let label = l.manifest.models.iter().find(|m| m.name == model).map(model_label).unwrap_or_else(|| model.to_string());
    let Some(o) = outcome.filter(|o| o.pool == pool) else {
        return html! { <section class="column" data-model={model.to_string()}><h2>{ label }</h2><p class="muted">{ "No results yet." }</p></section> };
    };
    let Some(texts) = lazy.pools.get(&o.pool) else {
        return html! { <section class="column" data-model={model.to_string()}><h2>{ label }</h2><p class="muted">{ "Loading the pool\u{2026}" }</p></section> };
    };
    // Candidate ids come from the worker: one outside the pool texts the page holds (a stale or
    // mismatched bundle) is said on screen, never indexed.
    let n = texts.texts.len().min(texts.langs.len()).min(texts.ids.len());
    if let Some(bad) = o.hits.iter().map(|h| h.0).chain(o.relevant.iter().map(|r| r.0)).find(|&c| c as usize >= n) {
        return html! { <section class="column" data-model={model.to_string()}><h2>{ label }</h2><p class="error" data-testid="error">{ format!("The worker returned candidate {bad}, but the pool {} has {n}; reload the page to fetch a consistent bundle.", o.pool) }</p></section> };
    }
    let relevant: std::collections::HashSet<u32> = o.relevant.iter().map(|r| r.0).collect();
    // Best rank of a correct answer per language: the bias strip.
    let mut best: BTreeMap<&str, usize> = BTreeMap::new();
    for (c, rank) in &o.relevant {
        let lang = texts.langs[*c as usize].as_str();
        let e = best.entry(lang).or_insert(*rank);
        *e = (*e).min(*rank);
    }
    let strip = (!best.is_empty()).then(|| {
        let spread = best.values().max().unwrap_or(&1) - best.values().min().unwrap_or(&1);
        html! {
            <div class="strip" data-testid="bias-strip">
                <span class="muted">{ format!("where each language's answer ranks (spread {spread}): ") }</span>
                { for best.iter().map(|(lang, rank)| {
                    let cls = if *rank <= 10 { "good" } else if *rank <= 100 { "mid" } else { "bad" };
                    html! { <span class={classes!("chip", cls)} title={format!("best correct {lang} answer at rank {rank}")}>{ format!("{lang} #{rank}") }</span> }
                }) }
            </div>
        }
    });
    html! {
        <section class="column" data-model={model.to_string()} data-query={o.query.clone()} data-encode-ms={format!("{:.1}", o.encode_ms)}>
            <h2>{ label }</h2>
            <p class="muted" data-testid="query-timing">
                { format!("query encoded in {:.0} ms, {} candidates ranked in {:.0} ms \u{00b7} {} tokens", o.encode_ms, texts.texts.len(), o.rank_ms, o.tokens) }
                { if o.cut_chars > 0 { format!(" \u{00b7} query cut by {} characters to the first {MAX_QUERY_CHARS}", o.cut_chars) } else { String::new() } }
                { if o.unknown > 0 { format!(" ({} unknown to the tokenizer, read as <unk>)", o.unknown) } else { String::new() } }
                { if o.word_bytes > 0 { format!(" \u{00b7} fetched {:.0} KB of the word table in {:.0} ms", o.word_bytes as f64 / 1e3, o.words_ms) } else { String::new() } }
            </p>
            { strip.unwrap_or_default() }
            <ol class="hits" data-testid="hits">
                { for o.hits.iter().map(|(c, s)| {
                    let i = *c as usize;
                    let ok = relevant.contains(c);
                    html! {
                        <li class={classes!(ok.then_some("correct"))} data-id={texts.ids[i].clone()}>
                            <span class="lang">{ texts.langs[i].clone() }</span>
                            <span class="text">{ texts.texts[i].clone() }</span>
                            <span class="score">{ format!("{s:.3}") }</span>
                            { if ok { html! { <span class="check" title="a correct answer to this dataset question">{ "\u{2713}" }</span> } } else { html! {} } }
                        </li>
                    }
                }) }
            </ol>
        </section>
    }
}

/// Entry point of the page binary.
pub fn run() {
    yew::Renderer::<App>::new().render();
}
