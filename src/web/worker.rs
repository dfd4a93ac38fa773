//! The inference engine, run inside a dedicated Web Worker so the page never freezes: fetches and
//! verifies the bundle, builds one encoder per requested model on WebGPU (or the CPU), and
//! answers searches with the same encoder and ranking code as the native CLI.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::rc::Rc;

use burn::tensor::Device;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::fetch::{cache_get, cache_put, fetch_plain, fetch_verified, now_ms};
use super::protocol::{BackendChoice, Hit, LoadTimings, RelevantHit, Request, Response};
use crate::assets::reproduce::{bundle_task, figures, score, Mode, Size, TaskQuery};
use crate::assets::{decode_int8, engine, AssetManifest, FileEntry, PoolTexts};
use crate::encoder::{Encoder, EncoderConfig};
use crate::metrics::LanguageMatrix;
use crate::model::{Checkpoint, WordTable, UNK_ID};
use crate::tokenize::{Role, TextTokenizer};

struct Pool {
    texts: Rc<PoolTexts>,
    langs: Vec<u16>,
    /// Language names, indexed like `langs`' values.
    names: Vec<String>,
}

/// What every model shares; built by the first `Load`. Pools and word-table shards are
/// fetched when first needed.
struct Shared {
    assets: String,
    tokenizer: TextTokenizer,
    base: Checkpoint,
    manifest: AssetManifest,
    /// The word table as far as fetched, shared by all models (deltas leave it untouched).
    words: RefCell<WordTable>,
    pools: RefCell<HashMap<String, Rc<Pool>>>,
    device: Device,
    backend: String,
    note: Option<String>,
    detail: Option<String>,
}

struct Model {
    encoder: Encoder,
    /// A checkpoint the user brought (its weights' sha256): its pool indexes are encoded here,
    /// not fetched, and kept in the Cache API under that hash.
    own_index: Option<String>,
    /// Pool name -> embeddings, row-major.
    vectors: RefCell<HashMap<String, Rc<Vec<f32>>>>,
}

thread_local! {
    static SHARED: RefCell<Option<Rc<Shared>>> = const { RefCell::new(None) };
    static MODELS: RefCell<HashMap<String, Rc<Model>>> = RefCell::new(HashMap::new());
}

fn post(resp: &Response) {
    let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    if let Ok(v) = serde_wasm_bindgen::to_value(resp) {
        let _ = scope.post_message(&v);
    }
}

/// Entry point of the worker binary: listen for requests.
pub fn run() {
    console_error_panic_hook();
    let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
        let arrived = now_ms();
        let request: Result<Request, String> = serde_wasm_bindgen::from_value(event.data()).map_err(|e| format!("bad request: {e}"));
        wasm_bindgen_futures::spawn_local(async move {
            match request.and_then(Request::bounded) {
                Ok((Request::Load { assets, models, pool, backend }, _)) => load_latest(LoadArgs { assets, models, pool, backend }).await,
                Ok((Request::Search { id, model, pool, query, k, relevant }, cut_chars)) => match search(&model, &pool, &query, k, &relevant).await {
                    Ok(r) => post(&r(id, cut_chars)),
                    Err(message) => post(&Response::Error { id: Some(id), message }),
                },
                Ok((Request::AddCheckpoint { id, manifest, layers, pool }, _)) => {
                    post(&add_checkpoint(id, &manifest, &layers, &pool).await.unwrap_or_else(|message| Response::Error { id: Some(id), message }))
                }
                Ok((Request::Matrix { id, model, pool, queries, relevant }, _)) => match matrix(&model, &pool, &queries, &relevant).await {
                    Ok((matrix, encode_ms, tokens)) => post(&Response::Matrix { id, model, matrix, encode_ms, tokens }),
                    Err(message) => post(&Response::Error { id: Some(id), message }),
                },
                Ok((Request::Reproduce { id, model, task, size, mode }, _)) => {
                    post(&reproduce(id, &model, &task, size, mode).await.unwrap_or_else(|message| Response::Error { id: Some(id), message }))
                }
                Ok((Request::Embed { id, model, texts, role }, _)) => {
                    post(&embed(id, &model, &texts, role, arrived).await.unwrap_or_else(|message| Response::Error { id: Some(id), message }))
                }
                Ok((Request::Cancel { id }, _)) => {
                    CANCELLED.with(|c| c.borrow_mut().insert(id));
                }
                Err(message) => post(&Response::Error { id: None, message }),
            }
        });
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    post(&Response::Listening);
}

fn console_error_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        post(&Response::Crashed { message: format!("the engine crashed: {info}") });
    }));
}

async fn fetch_entry(assets: &str, entry: &FileEntry, what: &str, timings: &mut LoadTimings) -> Result<Vec<u8>, String> {
    let t0 = now_ms();
    let what = what.to_string();
    let (bytes, cached) = fetch_verified(assets, entry, &mut |done, total| post(&Response::Progress { what: what.clone(), done, total })).await?;
    timings.download_ms += now_ms() - t0;
    timings.bytes += bytes.len() as u64;
    if cached {
        timings.from_cache += bytes.len() as u64;
    }
    Ok(bytes)
}

/// Which of the page's two worker builds this is (Cargo feature `relaxed-simd`), said in the
/// CPU's note: the page starts the relaxed one where the browser validates relaxed SIMD.
const SIMD_BUILD: &str = if cfg!(feature = "relaxed-simd") { "relaxed-SIMD build" } else { "baseline-SIMD build" };

/// The device the page runs on, in words for a visitor (`note`) and, where something failed,
/// the technical reason (`detail`, shown on demand).
struct DeviceChoice {
    device: Device,
    backend: String,
    note: Option<String>,
    detail: Option<String>,
}

fn on_cpu(note: String, detail: Option<String>) -> DeviceChoice {
    DeviceChoice { device: Device::flex(), backend: "CPU".into(), note: Some(format!("{note} ({SIMD_BUILD})")), detail }
}

fn on_gpu(device: Device, note: String, detail: Option<String>) -> DeviceChoice {
    DeviceChoice { device, backend: "WebGPU".into(), note: Some(note), detail }
}

/// The device for this page: the CPU when asked for or when the browser has no WebGPU adapter;
/// WebGPU when asked for; otherwise whichever of the two answers a query faster at warm-up
/// ([`query_ms`]), since a small encoder is often faster on the CPU.
async fn pick_device(choice: BackendChoice, manifest: &AssetManifest, base: &Checkpoint, tokenizer: &TextTokenizer) -> DeviceChoice {
    if choice == BackendChoice::Cpu {
        return on_cpu("The model runs on the CPU, as the address asks (?backend=cpu)".into(), None);
    }
    let global: JsValue = js_sys::global().into();
    let navigator = js_sys::Reflect::get(&global, &"navigator".into()).unwrap_or(JsValue::UNDEFINED);
    let has_gpu = js_sys::Reflect::get(&navigator, &"gpu".into()).map(|g| !g.is_undefined()).unwrap_or(false);
    if !has_gpu {
        return on_cpu("This browser offers no WebGPU, so the model runs on the CPU".into(), Some("navigator.gpu is missing".into()));
    }
    let gpu = match Device::wgpu_options().graphics_api(burn::tensor::wgpu::WgpuBackend::WebGpu).init_async().await {
        Ok(device) => device,
        Err(e) => {
            return on_cpu("This browser offers no usable WebGPU graphics adapter, so the model runs on the CPU".into(), Some(e.to_string()))
        }
    };
    if choice == BackendChoice::WebGpu {
        return on_gpu(gpu, "The model runs on WebGPU, as the address asks (?backend=webgpu)".into(), None);
    }
    // The CPU first (tens of ms), so that a WebGPU clearly slower than it (a software adapter:
    // seconds per query) is timed once, not three times.
    let cpu_ms = match query_ms(Device::flex(), manifest, base, tokenizer, f64::INFINITY).await {
        Ok(ms) => ms,
        Err(e) => return on_gpu(gpu, "The CPU engine failed its warm-up query, so the model runs on WebGPU".into(), Some(e)),
    };
    match query_ms(gpu.clone(), manifest, base, tokenizer, 2.0 * cpu_ms).await {
        Ok(gpu_ms) if cpu_ms < gpu_ms => on_cpu(
            format!("The CPU was faster here, so the model runs on it: picked at warm-up: {cpu_ms:.0} ms per query on the CPU, {gpu_ms:.0} ms on WebGPU (?backend=webgpu to use it)"),
            None,
        ),
        Ok(gpu_ms) => on_gpu(
            gpu,
            format!("WebGPU was faster here, so the model runs on it: picked at warm-up: {gpu_ms:.0} ms per query on WebGPU, {cpu_ms:.0} ms on the CPU (?backend=cpu to use it)"),
            None,
        ),
        Err(e) => on_cpu("WebGPU failed its warm-up query, so the model runs on the CPU".into(), Some(e)),
    }
}

/// The base model's time for one short query on `device`: the best of three, after a first run
/// that compiles kernels and sizes buffers, or the first time over `enough_ms` (already the
/// slower device). The word table is the empty one every model starts from: nothing is fetched.
async fn query_ms(device: Device, manifest: &AssetManifest, base: &Checkpoint, tokenizer: &TextTokenizer, enough_ms: f64) -> Result<f64, String> {
    let config = EncoderConfig::new().with_workers(1).with_batch_size(8);
    let mut encoder = Encoder::new(base, tokenizer.clone(), device, config).map_err(|e| e.to_string())?;
    encoder.words = engine::word_table(&manifest.words, base)?;
    let text = ["How tall is Mount Everest?"];
    encoder.encode_async(&text, Role::Query).await.map_err(|e| e.to_string())?;
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = now_ms();
        encoder.encode_async(&text, Role::Query).await.map_err(|e| e.to_string())?;
        best = best.min(now_ms() - t);
        if best > enough_ms {
            break;
        }
    }
    Ok(best)
}

async fn shared(assets: &str, backend: BackendChoice, timings: &mut LoadTimings) -> Result<Rc<Shared>, String> {
    if let Some(s) = SHARED.with(|s| s.borrow().clone()) {
        return Ok(s);
    }
    let manifest_bytes = fetch_plain(&format!("{}/manifest.json", assets.trim_end_matches('/')), 0, &mut |_, _| {}).await?;
    let manifest: AssetManifest =
        serde_json::from_slice(&manifest_bytes).map_err(|e| format!("{assets}/manifest.json is not a valid asset manifest: {e}"))?;
    let tok_gz = fetch_entry(assets, &manifest.tokenizer, "tokenizer", timings).await?;
    let mut tok_json = Vec::new();
    flate2::read::GzDecoder::new(&tok_gz[..]).read_to_end(&mut tok_json).map_err(|e| format!("{}: {e}", manifest.tokenizer.path))?;
    let tokenizer = TextTokenizer::from_bytes(&tok_json, &manifest.tokenizer.path).map_err(|e| e.to_string())?;
    let model_bytes = fetch_entry(assets, &manifest.model, "model", timings).await?;
    let base = engine::base_checkpoint(&manifest, &model_bytes)?;
    let words = RefCell::new(engine::word_table(&manifest.words, &base)?);
    // Once per page: a second WebGPU initialisation in the same page fails.
    let tw = now_ms();
    let DeviceChoice { device, backend, note, detail } = pick_device(backend, &manifest, &base, &tokenizer).await;
    timings.warmup_ms += now_ms() - tw;
    let shared = Rc::new(Shared {
        assets: assets.to_string(),
        tokenizer,
        base,
        manifest,
        words,
        pools: RefCell::new(HashMap::new()),
        device,
        backend,
        note,
        detail,
    });
    SHARED.with(|s| *s.borrow_mut() = Some(shared.clone()));
    Ok(shared)
}

/// The texts of `pool` and their languages, fetched once.
async fn pool_texts(shared: &Shared, name: &str, timings: &mut LoadTimings) -> Result<Rc<Pool>, String> {
    if let Some(p) = shared.pools.borrow().get(name).cloned() {
        return Ok(p);
    }
    let entry = shared.manifest.pools.iter().find(|p| p.name == name).ok_or_else(|| format!("unknown pool {name}"))?;
    let bytes = fetch_entry(&shared.assets, &entry.texts, &format!("pool {name}"), timings).await?;
    let texts = PoolTexts::from_json(&bytes, &entry.texts.path)?;
    let (langs, names) = engine::pool_langs(&texts);
    let p = Rc::new(Pool { texts: Rc::new(texts), langs, names });
    shared.pools.borrow_mut().insert(name.to_string(), p.clone());
    Ok(p)
}

/// The candidates' languages of `pool` (from its texts) and `model`'s embeddings of it.
async fn pool(shared: &Shared, model: &Model, name: &str, model_name: &str, timings: &mut LoadTimings) -> Result<(Rc<Pool>, Rc<Vec<f32>>), String> {
    let pool = pool_texts(shared, name, timings).await?;
    let known = model.vectors.borrow().get(name).cloned();
    let vectors = match known {
        Some(v) => v,
        None if model.own_index.is_some() => {
            let v = Rc::new(own_pool_index(shared, model, &pool.texts, name).await?);
            model.vectors.borrow_mut().insert(name.to_string(), v.clone());
            v
        }
        None => {
            let entry = shared.manifest.models.iter().find(|m| m.name == model_name).ok_or_else(|| format!("model {model_name} is not in the manifest"))?;
            let file = entry.pools.get(name).ok_or_else(|| format!("{model_name} has no index of pool {name}"))?;
            let bytes = fetch_entry(&shared.assets, file, &format!("{model_name} {name} index"), timings).await?;
            let v = Rc::new(decode_int8(&bytes, &file.path)?.0);
            model.vectors.borrow_mut().insert(name.to_string(), v.clone());
            v
        }
    };
    Ok((pool, vectors))
}

/// Texts encoded per step of a pool encoded here (progress is posted after each).
const POOL_STEP: usize = 32;

/// A user checkpoint's index of pool `name`: from the Cache API when this checkpoint encoded
/// these pool texts before, else encoded here and kept there (f32, little-endian).
async fn own_pool_index(shared: &Shared, model: &Model, texts: &PoolTexts, name: &str) -> Result<Vec<f32>, String> {
    let texts_sha = shared.manifest.pools.iter().find(|p| p.name == name).map(|p| p.texts.sha256.clone()).unwrap_or_default();
    let key = format!("{}/user-index/{}/{name}?texts={texts_sha}", shared.assets.trim_end_matches('/'), model.own_index.as_deref().unwrap_or_default());
    let expected = texts.texts.len() * model.encoder.dim() * 4;
    if let Some(bytes) = cache_get(&key).await.filter(|b| b.len() == expected) {
        return Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect());
    }
    let vectors = encode_pool(shared, model, texts, name).await?;
    let bytes: Vec<u8> = vectors.iter().flat_map(|v| v.to_le_bytes()).collect();
    cache_put(&key, &bytes).await;
    Ok(vectors)
}

/// `model`'s embeddings of every text of a pool, encoded in the browser with progress.
async fn encode_pool(shared: &Shared, model: &Model, texts: &PoolTexts, name: &str) -> Result<Vec<f32>, String> {
    let refs: Vec<&str> = texts.texts.iter().map(String::as_str).collect();
    let prepared = with_words(shared, model, &refs, Role::Passage).await?;
    let total = refs.len() as u64;
    let what = format!("pool {name} with your checkpoint");
    encode_in_steps(&prepared.encoder, &refs, Role::Passage, &mut |done| {
        post(&Response::Encoding { what: what.clone(), done, total });
        Ok(())
    })
    .await
}

/// A copy of `model`'s encoder holding every word-table row `texts` need (fetched first).
struct Prepared {
    encoder: Encoder,
    tokens: usize,
    unknown_tokens: usize,
    words_ms: f64,
    word_bytes: u64,
}

async fn with_words(shared: &Shared, model: &Model, texts: &[&str], role: Role) -> Result<Prepared, String> {
    let max_len = model.encoder.config.max_len(role);
    let mut ids = Vec::new();
    for t in texts {
        ids.extend(model.encoder.tokenizer.encode(t, role, max_len).map_err(|e| e.to_string())?.0);
    }
    let tf = now_ms();
    let word_bytes = load_words(shared, &ids).await?;
    let words_ms = now_ms() - tf;
    // Encoders share their weights' storage, so a copy with the grown word table is cheap.
    let mut encoder = model.encoder.clone();
    encoder.words = shared.words.borrow().clone();
    let unknown_tokens = ids.iter().filter(|&&i| i == UNK_ID).count();
    Ok(Prepared { encoder, tokens: ids.len(), unknown_tokens, words_ms, word_bytes })
}

/// Encodes `texts` [`POOL_STEP`] at a time; after each step `after` hears how many are done
/// (it posts progress, and may stop the work with an error) and the event loop gets a turn,
/// so messages such as a [`Request::Cancel`] are read in between.
async fn encode_in_steps(encoder: &Encoder, texts: &[&str], role: Role, after: &mut dyn FnMut(u64) -> Result<(), String>) -> Result<Vec<f32>, String> {
    let mut out = Vec::with_capacity(texts.len() * encoder.dim());
    for chunk in texts.chunks(POOL_STEP) {
        out.extend(encoder.encode_async(chunk, role).await.map_err(|e| e.to_string())?.data);
        after((out.len() / encoder.dim()) as u64)?;
        next_tick().await;
    }
    Ok(out)
}

/// Resolves on the worker's next event-loop turn (a zero-delay timer).
async fn next_tick() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
        if scope.set_timeout_with_callback(&resolve).is_err() {
            // No timer: resolve at once (the work goes on without a pause).
            let _ = resolve.call0(&JsValue::NULL);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Adds the user's checkpoint as a model named after its weights' hash, and encodes its index
/// of `pool_name`.
async fn add_checkpoint(id: u64, manifest: &[u8], layers: &[u8], pool_name: &str) -> Result<Response, String> {
    let shared = SHARED.with(|s| s.borrow().clone()).ok_or("the engine is still loading; add the checkpoint once it is ready")?;
    // Batches of 8 as for the bundle's models: measured faster in wasm for the MKQA-R test pool
    // than 32 (131 s vs 178 s to add a checkpoint, scripts/e2e report.json).
    let config = EncoderConfig::new().with_workers(1).with_batch_size(8);
    let (encoder, m) = engine::user_encoder(&shared.manifest, &shared.base, shared.tokenizer.clone(), manifest, layers, shared.device.clone(), config)?;
    let name = format!("yours-{}", m.weights_sha256.chars().take(8).collect::<String>());
    let label = format!("your checkpoint: alpha = {} (seed {}), {}", m.alpha, m.seed, m.weights_sha256.chars().take(8).collect::<String>());
    let model = MODELS.with(|ms| ms.borrow().get(&name).cloned()).unwrap_or_else(|| Rc::new(Model { encoder, own_index: Some(m.weights_sha256.clone()), vectors: RefCell::new(HashMap::new()) }));
    let t0 = now_ms();
    let (p, _) = pool(&shared, &model, pool_name, &name, &mut LoadTimings::default()).await?;
    let encode_ms = now_ms() - t0;
    MODELS.with(|ms| ms.borrow_mut().insert(name.clone(), model));
    Ok(Response::CheckpointAdded { id, name, label, alpha: m.alpha, passages: p.texts.texts.len(), encode_ms })
}

/// Fetches the word-table shards `ids` need that are not loaded yet; returns the bytes fetched.
async fn load_words(shared: &Shared, ids: &[u32]) -> Result<u64, String> {
    let missing = engine::missing_shards(&shared.words.borrow(), &shared.manifest.words, ids);
    let mut timings = LoadTimings::default();
    let mut fetched = Vec::with_capacity(missing.len());
    for i in missing {
        let entry = shared.manifest.words.entry(i).ok_or_else(|| format!("word shard {i} is not in the manifest"))?;
        fetched.push((i, fetch_entry(&shared.assets, &entry, "word table", &mut timings).await?));
    }
    engine::add_shards(&mut shared.words.borrow_mut(), &shared.manifest.words, &fetched)?;
    Ok(timings.bytes - timings.from_cache)
}

struct LoadArgs {
    assets: String,
    models: Vec<String>,
    pool: String,
    backend: BackendChoice,
}

thread_local! {
    static LOADING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static QUEUED: RefCell<Option<LoadArgs>> = const { RefCell::new(None) };
}

/// Loads one at a time, the latest request winning: a load that arrives while another runs
/// waits (replacing any load already waiting), and only the last one's outcome is posted. So
/// quick model switches never start a second WebGPU initialisation or fetch a bundle twice.
async fn load_latest(mut args: LoadArgs) {
    if LOADING.with(|l| l.get()) {
        QUEUED.with(|q| *q.borrow_mut() = Some(args));
        return;
    }
    LOADING.with(|l| l.set(true));
    loop {
        let outcome = load(&args.assets, &args.models, &args.pool, args.backend).await;
        match QUEUED.with(|q| q.borrow_mut().take()) {
            Some(next) => args = next,
            None => {
                post(&outcome.unwrap_or_else(|message| Response::Error { id: None, message }));
                break;
            }
        }
    }
    LOADING.with(|l| l.set(false));
}

async fn load(assets: &str, models: &[String], pool_name: &str, backend: BackendChoice) -> Result<Response, String> {
    let mut timings = LoadTimings::default();
    let shared = shared(assets, backend, &mut timings).await?;
    for name in models {
        if MODELS.with(|m| m.borrow().contains_key(name)) {
            continue;
        }
        let entry = shared.manifest.models.iter().find(|m| &m.name == name).ok_or_else(|| format!("model {name} is not in the manifest"))?;
        let delta = match (&entry.delta, &entry.delta_manifest) {
            (Some(delta), Some(dm)) => Some((
                fetch_entry(assets, delta, &format!("{name} layers"), &mut timings).await?,
                fetch_entry(assets, dm, &format!("{name} manifest"), &mut timings).await?,
            )),
            _ => None,
        };
        let tb = now_ms();
        let config = EncoderConfig::new().with_workers(1).with_batch_size(8);
        let delta = delta.as_ref().map(|(d, m)| (d.as_slice(), m.as_slice()));
        let encoder = engine::encoder(&shared.manifest, &shared.base, shared.tokenizer.clone(), name, delta, shared.device.clone(), config)?;
        timings.build_ms += now_ms() - tb;
        let model = Rc::new(Model { encoder, own_index: None, vectors: RefCell::new(HashMap::new()) });
        pool(&shared, &model, pool_name, name, &mut timings).await?;
        // The first run compiles kernels (WebGPU) and sizes buffers: time it apart.
        let tw = now_ms();
        model.encoder.encode_async(&["warm-up"], Role::Query).await.map_err(|e| e.to_string())?;
        timings.warmup_ms += now_ms() - tw;
        MODELS.with(|m| m.borrow_mut().insert(name.clone(), model));
    }
    let loaded: Vec<String> = MODELS.with(|m| m.borrow().keys().cloned().collect());
    Ok(Response::Ready { backend: shared.backend.clone(), note: shared.note.clone(), detail: shared.detail.clone(), models: loaded, timings })
}

/// Queries encoded as one batch, after fetching the word-table shards they need.
struct Encoded {
    data: Vec<f32>,
    tokens: usize,
    unknown_tokens: usize,
    encode_ms: f64,
    /// Before the encoding: tokenising for the word-table rows, fetching missing ones.
    prepare_ms: f64,
    words_ms: f64,
    word_bytes: u64,
}

async fn encode_queries(shared: &Shared, loaded: &Model, texts: &[&str]) -> Result<Encoded, String> {
    encode_texts(shared, loaded, texts, Role::Query).await
}

async fn encode_texts(shared: &Shared, loaded: &Model, texts: &[&str], role: Role) -> Result<Encoded, String> {
    let tp = now_ms();
    let p = with_words(shared, loaded, texts, role).await?;
    let t0 = now_ms();
    let q = p.encoder.encode_async(texts, role).await.map_err(|e| e.to_string())?;
    Ok(Encoded { data: q.data, tokens: p.tokens, unknown_tokens: p.unknown_tokens, encode_ms: now_ms() - t0, prepare_ms: t0 - tp, words_ms: p.words_ms, word_bytes: p.word_bytes })
}

/// A [`Request::Embed`]: `texts` through `model` in one batch, vectors back; `arrived` is when
/// the request reached the worker.
async fn embed(id: u64, model: &str, texts: &[String], role: Role, arrived: f64) -> Result<Response, String> {
    let shared = SHARED.with(|s| s.borrow().clone()).ok_or("the engine is still loading")?;
    let loaded = MODELS.with(|m| m.borrow().get(model).cloned()).ok_or_else(|| format!("model {model} is not loaded"))?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let e = encode_texts(&shared, &loaded, &refs, role).await?;
    Ok(Response::Embedded { id, dim: loaded.encoder.dim(), vectors: e.data, encode_ms: e.encode_ms, prepare_ms: e.prepare_ms, words_ms: e.words_ms, word_bytes: e.word_bytes, tokens: e.tokens, worker_ms: now_ms() - arrived })
}

/// Handles of what a request needs: the engine, `model`, and its index of `pool_name`.
async fn model_and_pool(model: &str, pool_name: &str) -> Result<(Rc<Shared>, Rc<Model>, Rc<Pool>, Rc<Vec<f32>>), String> {
    let shared = SHARED.with(|s| s.borrow().clone()).ok_or("the engine is still loading")?;
    let loaded = MODELS.with(|m| m.borrow().get(model).cloned()).ok_or_else(|| format!("model {model} is not loaded"))?;
    let (p, vectors) = pool(&shared, &loaded, pool_name, model, &mut LoadTimings::default()).await?;
    Ok((shared, loaded, p, vectors))
}

async fn search(model: &str, pool_name: &str, query: &str, k: usize, relevant: &[u32]) -> Result<impl FnOnce(u64, usize) -> Response, String> {
    let text = query.trim();
    if text.is_empty() {
        return Err("type a question first".into());
    }
    let (shared, loaded, p, vectors) = model_and_pool(model, pool_name).await?;
    let q = encode_queries(&shared, &loaded, &[text]).await?;
    let t1 = now_ms();
    let ranked = engine::rank(&q.data, &vectors, &p.langs, p.names.len(), relevant, k)?;
    let rank_ms = now_ms() - t1;
    let model = model.to_string();
    Ok(move |id, cut_chars| Response::Results {
        id,
        model,
        hits: ranked.top_multi.iter().map(|&(candidate, score)| Hit { candidate, score }).collect(),
        relevant: ranked.relevant.iter().map(|r| RelevantHit { candidate: r.candidate, rank: r.multi }).collect(),
        encode_ms: q.encode_ms,
        rank_ms,
        words_ms: q.words_ms,
        word_bytes: q.word_bytes,
        tokens: q.tokens,
        unknown_tokens: q.unknown_tokens,
        cut_chars,
    })
}

/// Every version of one question encoded in one batch, then the language matrix: (matrix,
/// encoding time of the batch, tokens).
async fn matrix(model: &str, pool_name: &str, queries: &[(String, String)], relevant: &[u32]) -> Result<(LanguageMatrix, f64, usize), String> {
    if let Some((lang, _)) = queries.iter().find(|(_, t)| t.trim().is_empty()) {
        return Err(format!("the {lang} version of the question is empty"));
    }
    let (shared, loaded, p, vectors) = model_and_pool(model, pool_name).await?;
    let texts: Vec<&str> = queries.iter().map(|(_, t)| t.trim()).collect();
    let q = encode_queries(&shared, &loaded, &texts).await?;
    let langs: Vec<String> = queries.iter().map(|(l, _)| l.clone()).collect();
    let m = engine::MatrixQuestion { queries: &q.data, query_langs: &langs, vectors: &vectors, langs: &p.langs, lang_names: &p.names, relevant }.matrix()?;
    Ok((m, q.encode_ms, q.tokens))
}

thread_local! {
    /// Reproductions asked to stop ([`Request::Cancel`]); each checks between batches.
    static CANCELLED: RefCell<HashSet<u64>> = RefCell::new(HashSet::new());
}

/// The reproduction `id` was cancelled (and forgets the request, so ids stay few).
fn cancelled(id: u64) -> bool {
    CANCELLED.with(|c| c.borrow_mut().remove(&id))
}

/// Why a cancelled reproduction stopped; [`reproduce`] turns it into [`Response::Cancelled`].
const CANCELLED_MESSAGE: &str = "cancelled";

/// A [`Request::Reproduce`]: the task's queries (and pool, from scratch) encoded here with
/// progress, scored by `report::evaluate_task`, summarised as the bundle's references are.
async fn reproduce(id: u64, model: &str, task: &str, size: Size, mode: Mode) -> Result<Response, String> {
    match run_reproduce(id, model, task, size, mode).await {
        Err(e) if e == CANCELLED_MESSAGE => Ok(Response::Cancelled { id }),
        other => other,
    }
}

async fn run_reproduce(id: u64, model_name: &str, task: &str, size: Size, mode: Mode) -> Result<Response, String> {
    let shared = SHARED.with(|s| s.borrow().clone()).ok_or("the engine is still loading")?;
    let model = MODELS.with(|m| m.borrow().get(model_name).cloned()).ok_or_else(|| format!("model {model_name} is not loaded"))?;
    let entry = shared.manifest.reproduce.iter().find(|e| e.task == task).cloned().ok_or_else(|| format!("the bundle has no task {task} to reproduce"))?;
    let mut timings = LoadTimings::default();
    let bytes = fetch_entry(&shared.assets, &entry.queries, &format!("{task} queries"), &mut timings).await?;
    let queries: Vec<TaskQuery> = serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", entry.queries.path))?;
    let candidates = pool_texts(&shared, &entry.pool, &mut timings).await?;
    let task = bundle_task(task, &queries, &candidates.texts, size)?;
    let step = |stage: &'static str, total: usize| {
        let t_stage = now_ms();
        move |done: u64| {
            post(&Response::Reproducing { id, stage: stage.into(), done, total: total as u64, elapsed_ms: now_ms() - t_stage });
            if cancelled(id) { Err(CANCELLED_MESSAGE.to_string()) } else { Ok(()) }
        }
    };
    let q_texts: Vec<&str> = task.queries.iter().map(|q| q.text.as_str()).collect();
    let prepared = with_words(&shared, &model, &q_texts, Role::Query).await?;
    let (mut words_ms, mut word_bytes) = (prepared.words_ms, prepared.word_bytes);
    let tq = now_ms();
    let q = encode_in_steps(&prepared.encoder, &q_texts, Role::Query, &mut step("queries", q_texts.len())).await?;
    let queries_ms = now_ms() - tq;
    let tp = now_ms();
    let vectors = match mode {
        Mode::Shipped => pool(&shared, &model, &entry.pool, model_name, &mut timings).await?.1,
        Mode::Scratch => {
            let p_texts: Vec<&str> = candidates.texts.texts.iter().map(String::as_str).collect();
            let prepared = with_words(&shared, &model, &p_texts, Role::Passage).await?;
            words_ms += prepared.words_ms;
            word_bytes += prepared.word_bytes;
            Rc::new(encode_in_steps(&prepared.encoder, &p_texts, Role::Passage, &mut step("pool", p_texts.len())).await?)
        }
    };
    // The pool's word-table rows are counted under `words_ms`, not the pool's encoding.
    let pool_ms = now_ms() - tp - (words_ms - prepared.words_ms);
    step("scoring", task.queries.len())(0)?;
    next_tick().await;
    let ts = now_ms();
    let table = score(&task, &q, &vectors, model.encoder.dim(), &Device::flex())?;
    Ok(Response::Reproduced {
        id,
        model: model_name.to_string(),
        task: entry.task.clone(),
        figures: figures(&table, None),
        queries: task.queries.len(),
        pool: task.pool.len(),
        queries_ms,
        pool_ms,
        score_ms: now_ms() - ts,
        words_ms,
        word_bytes,
    })
}
