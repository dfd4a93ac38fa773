//! Messages between the page and the inference worker (serialised with serde-wasm-bindgen).

use serde::{Deserialize, Serialize};

use crate::assets::reproduce::{Figures, Mode, Size};
use crate::metrics::LanguageMatrix;
use crate::tokenize::Role;

/// Where the worker computes (`?backend=` in the page's URL).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// WebGPU or the CPU, whichever answers a query faster at warm-up (the CPU without an adapter).
    #[default]
    Auto,
    /// The CPU (`?backend=cpu`).
    Cpu,
    /// WebGPU whenever the browser offers an adapter (`?backend=webgpu`).
    WebGpu,
}

impl BackendChoice {
    /// The URL value: "" for the default.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendChoice::Auto => "",
            BackendChoice::Cpu => "cpu",
            BackendChoice::WebGpu => "webgpu",
        }
    }

    /// From the URL value; anything unknown is the default.
    pub fn parse(value: &str) -> Self {
        match value {
            "cpu" => BackendChoice::Cpu,
            "webgpu" => BackendChoice::WebGpu,
            _ => BackendChoice::Auto,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Request {
    /// Fetch and verify the bundle under `assets` (a URL prefix), then build the encoders of
    /// `models` (names from the manifest) with their index of `pool`, on the device `backend`
    /// asks for.
    Load { assets: String, models: Vec<String>, pool: String, backend: BackendChoice },
    /// Encode `query` with `model` and rank `pool`; `relevant` marks dataset answers.
    Search { id: u64, model: String, pool: String, query: String, k: usize, relevant: Vec<u32> },
    /// Encode every version of one question (`queries`: (language, text)) with `model` in one
    /// batch and say where each language's answer among `relevant` ranks in `pool`.
    Matrix { id: u64, model: String, pool: String, queries: Vec<(String, String)>, relevant: Vec<u32> },
    /// Add the user's checkpoint (`manifest.json` and `layers.safetensors` as `hybrid-ir train`
    /// writes them) as a model, checked against the loaded base; its index of `pool` is encoded
    /// here, in the browser.
    AddCheckpoint {
        id: u64,
        #[serde(with = "serde_bytes")]
        manifest: Vec<u8>,
        #[serde(with = "serde_bytes")]
        layers: Vec<u8>,
        pool: String,
    },
    /// Evaluate `model` on a task the bundle ships (`size`: its sample or all of it), the
    /// queries encoded here and the pool's shipped index used, or the pool encoded here too
    /// (`mode`); scored with the crate's ranking and metric code. Progress comes as
    /// [`Response::Reproducing`]; [`Request::Cancel`] stops it.
    Reproduce { id: u64, model: String, task: String, size: Size, mode: Mode },
    /// Stop the reproduction `id` at its next batch.
    Cancel { id: u64 },
    /// Encode `texts` with `model` as one batch and send the vectors back (the bench harness's
    /// and any evaluator's way in: many texts per call, no ranking).
    Embed { id: u64, model: String, texts: Vec<String>, role: Role },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Hit {
    pub candidate: u32,
    pub score: f32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RelevantHit {
    pub candidate: u32,
    /// 1-based rank in the multilingual pool.
    pub rank: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LoadTimings {
    pub download_ms: f64,
    pub bytes: u64,
    pub from_cache: u64,
    pub build_ms: f64,
    pub warmup_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Response {
    /// The worker listens: sent once at start. Messages posted before it would be lost while
    /// the worker's wasm is still being compiled.
    Listening,
    Progress { what: String, done: u64, total: u64 },
    /// Texts encoded so far of a pool encoded in the browser.
    Encoding { what: String, done: u64, total: u64 },
    /// `backend`: "WebGPU" or "CPU"; `note` says in words why that one; `detail` the technical
    /// reason where something failed (an adapter error), for a visitor who asks.
    Ready {
        backend: String,
        note: Option<String>,
        #[serde(default)]
        detail: Option<String>,
        models: Vec<String>,
        timings: LoadTimings,
    },
    /// `words_ms`/`word_bytes`: fetching the word-table shards the query needed (0 once cached).
    Results {
        id: u64,
        model: String,
        hits: Vec<Hit>,
        relevant: Vec<RelevantHit>,
        encode_ms: f64,
        rank_ms: f64,
        words_ms: f64,
        word_bytes: u64,
        tokens: usize,
        unknown_tokens: usize,
        /// Characters cut from the end of an over-long query before it was encoded.
        #[serde(default)]
        cut_chars: usize,
    },
    /// A [`Request::Matrix`] answered: `encode_ms` for the whole batch of versions.
    Matrix { id: u64, model: String, matrix: LanguageMatrix, encode_ms: f64, tokens: usize },
    /// A [`Request::AddCheckpoint`] done: the model's name for searches, a label, its alpha (for
    /// its point on the plots), and the time its pool index took to encode.
    CheckpointAdded { id: u64, name: String, label: String, alpha: f64, passages: usize, encode_ms: f64 },
    /// A reproduction's progress: `stage` "queries" or "pool" (texts encoded) or "scoring";
    /// `elapsed_ms` since the stage began (so the page can tell the time left from its rate).
    Reproducing { id: u64, stage: String, done: u64, total: u64, elapsed_ms: f64 },
    /// A [`Request::Reproduce`] done: the figures, the number of queries, and where the time
    /// went (`words_ms`: fetching the word-table rows the texts need, `word_bytes` of them).
    Reproduced { id: u64, model: String, task: String, figures: Figures, queries: usize, pool: usize, queries_ms: f64, pool_ms: f64, score_ms: f64, words_ms: f64, word_bytes: u64 },
    /// A [`Request::Embed`] answered: `vectors` row-major, `dim` per text; `encode_ms` for the
    /// batch (tokenising included), `prepare_ms` before it (tokenising to find the word-table
    /// rows the texts need, and `words_ms` of it fetching those); `worker_ms` from the request's
    /// arrival in the worker (before decoding it) until this reply is built, so a caller can tell
    /// the worker's time from the message passing's.
    Embedded { id: u64, vectors: Vec<f32>, dim: usize, encode_ms: f64, prepare_ms: f64, words_ms: f64, word_bytes: u64, tokens: usize, worker_ms: f64 },
    /// A [`Request::Reproduce`] stopped by [`Request::Cancel`].
    Cancelled { id: u64 },
    Error { id: Option<u64>, message: String },
    /// The engine hit a panic (a wasm trap follows): the worker is unusable and the page starts
    /// a new one.
    Crashed { message: String },
}

/// Most results a search may ask for.
pub const MAX_K: usize = 1000;
/// Most relevant candidates a search may mark (a dataset question has a few dozen at most).
pub const MAX_RELEVANT: usize = 10_000;
/// Most versions of one question a matrix may encode (MKQA has 26 languages).
pub const MAX_MATRIX_QUERIES: usize = 32;
/// Most texts one [`Request::Embed`] may carry.
pub const MAX_EMBED_TEXTS: usize = 256;

impl Request {
    /// The request as the worker acts on it, bounded: a search's query (each of a matrix's
    /// queries) cut to [`super::url::MAX_QUERY_CHARS`] characters (the second value: how many
    /// were cut from the search's, so the page can say it), `k` at most [`MAX_K`]. Asking for
    /// more relevant marks than [`MAX_RELEVANT`], a matrix of no or more than
    /// [`MAX_MATRIX_QUERIES`] queries, or an empty asset or model list, is an error.
    pub fn bounded(self) -> Result<(Request, usize), String> {
        let max = super::url::MAX_QUERY_CHARS;
        let cut = |q: String| if q.chars().count() > max { q.chars().take(max).collect() } else { q };
        let check_relevant = |r: &[u32]| match r.len() > MAX_RELEVANT {
            true => Err(format!("{} relevant candidates marked; at most {MAX_RELEVANT}", r.len())),
            false => Ok(()),
        };
        match self {
            Request::Search { id, model, pool, query, k, relevant } => {
                check_relevant(&relevant)?;
                let chars = query.chars().count();
                Ok((Request::Search { id, model, pool, query: cut(query), k: k.min(MAX_K), relevant }, chars.saturating_sub(max)))
            }
            Request::Matrix { id, model, pool, queries, relevant } => {
                check_relevant(&relevant)?;
                if queries.is_empty() || queries.len() > MAX_MATRIX_QUERIES {
                    return Err(format!("a matrix of {} queries; it takes 1 to {MAX_MATRIX_QUERIES}", queries.len()));
                }
                let queries = queries.into_iter().map(|(lang, text)| (lang.chars().take(super::url::MAX_NAME_CHARS).collect(), cut(text))).collect();
                Ok((Request::Matrix { id, model, pool, queries, relevant }, 0))
            }
            Request::AddCheckpoint { id, manifest, layers, pool } => {
                let bytes = (manifest.len() + layers.len()) as u64;
                if bytes > crate::assets::MAX_CHECKPOINT_BYTES {
                    return Err(format!("a checkpoint of {bytes} bytes; at most {}", crate::assets::MAX_CHECKPOINT_BYTES));
                }
                Ok((Request::AddCheckpoint { id, manifest, layers, pool }, 0))
            }
            Request::Embed { id, model, texts, role } => {
                if texts.is_empty() || texts.len() > MAX_EMBED_TEXTS {
                    return Err(format!("{} texts to embed; it takes 1 to {MAX_EMBED_TEXTS}", texts.len()));
                }
                Ok((Request::Embed { id, model, texts: texts.into_iter().map(cut).collect(), role }, 0))
            }
            r @ (Request::Reproduce { .. } | Request::Cancel { .. }) => Ok((r, 0)),
            Request::Load { assets, models, pool, backend } => {
                if assets.is_empty() || models.is_empty() {
                    return Err("a load names the asset folder and at least one model".into());
                }
                Ok((Request::Load { assets, models, pool, backend }, 0))
            }
        }
    }
}
