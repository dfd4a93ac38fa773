//! Downloads for the page and the worker: streamed with progress, kept in the Cache API under
//! their sha256 (so a changed file is never served stale), and verified before use.

use js_sys::{Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::assets::FileEntry;
use crate::model::sha256_hex;

const CACHE_NAME: &str = "hybrid-ir-v1";

fn js_err(context: &str, e: JsValue) -> String {
    let text = e.as_string().or_else(|| js_sys::JSON::stringify(&e).ok().and_then(|s| s.as_string())).unwrap_or_default();
    format!("{context}: {text}")
}

fn global_fn(name: &str) -> Result<(JsValue, Function), String> {
    let global: JsValue = js_sys::global().into();
    let f = Reflect::get(&global, &name.into()).map_err(|e| js_err(name, e))?;
    let f = f.dyn_into::<Function>().map_err(|_| format!("{name} is not available here"))?;
    Ok((global, f))
}

async fn open_cache() -> Option<web_sys::Cache> {
    let global: JsValue = js_sys::global().into();
    let caches = Reflect::get(&global, &"caches".into()).ok()?.dyn_into::<web_sys::CacheStorage>().ok()?;
    JsFuture::from(caches.open(CACHE_NAME)).await.ok()?.dyn_into::<web_sys::Cache>().ok()
}

async fn read_body(resp: web_sys::Response, total: u64, progress: &mut dyn FnMut(u64, u64)) -> Result<Vec<u8>, String> {
    let Some(body) = resp.body() else { return Ok(Vec::new()) };
    let reader = body.get_reader().dyn_into::<web_sys::ReadableStreamDefaultReader>().map_err(|_| "no stream reader".to_string())?;
    let mut out = Vec::with_capacity(total as usize);
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(|e| js_err("read", e))?;
        if Reflect::get(&chunk, &"done".into()).ok().and_then(|d| d.as_bool()).unwrap_or(true) {
            break;
        }
        let value = Reflect::get(&chunk, &"value".into()).map_err(|e| js_err("read", e))?;
        out.extend_from_slice(&Uint8Array::new(&value).to_vec());
        progress(out.len() as u64, total.max(out.len() as u64));
    }
    Ok(out)
}

/// Fetches `base/entry.path`, from the cache when an entry with the same sha256 is there.
/// Returns the bytes and whether they came from the cache.
pub async fn fetch_verified(base: &str, entry: &FileEntry, progress: &mut dyn FnMut(u64, u64)) -> Result<(Vec<u8>, bool), String> {
    let url = format!("{}/{}", base.trim_end_matches('/'), entry.path);
    let key = format!("{url}?sha256={}", entry.sha256);
    let cache = open_cache().await;
    if let Some(cache) = &cache {
        if let Ok(hit) = JsFuture::from(cache.match_with_str(&key)).await {
            if let Ok(resp) = hit.dyn_into::<web_sys::Response>() {
                let bytes = read_body(resp, entry.bytes, progress).await?;
                if sha256_hex(&bytes) == entry.sha256 {
                    return Ok((bytes, true));
                }
                // A damaged cache entry: drop it and download again.
                let _ = JsFuture::from(cache.delete_with_str(&key)).await;
            }
        }
    }
    let mut bytes = fetch_plain(&url, entry.bytes, progress).await?;
    let mut sha = sha256_hex(&bytes);
    if sha != entry.sha256 {
        // The browser's HTTP cache (or a proxy) may hold an older or damaged copy: ask the
        // server itself once more before giving up.
        bytes = fetch_with(&url, entry.bytes, progress, true).await?;
        sha = sha256_hex(&bytes);
    }
    if sha != entry.sha256 {
        return Err(format!(
            "{url}: sha256 {sha} does not match the manifest ({}); the file is corrupt or stale, rebuild with `hybrid-ir web-assets`",
            entry.sha256
        ));
    }
    if cache.is_some() {
        cache_put(&key, &bytes).await;
    }
    Ok((bytes, false))
}

/// Bytes the page computed and kept in the Cache API under `key` (a name of our own, like a
/// URL), if there are any.
pub async fn cache_get(key: &str) -> Option<Vec<u8>> {
    let cache = open_cache().await?;
    let resp = JsFuture::from(cache.match_with_str(key)).await.ok()?.dyn_into::<web_sys::Response>().ok()?;
    read_body(resp, 0, &mut |_, _| {}).await.ok()
}

/// Keeps `bytes` under `key`. No Cache API, or a full one, is not an error: the bytes are
/// computed again next time.
pub async fn cache_put(key: &str, bytes: &[u8]) {
    if let Some(cache) = open_cache().await {
        let array = Uint8Array::from(bytes);
        if let Ok(resp) = web_sys::Response::new_with_opt_buffer_source(Some(&array)) {
            let _ = JsFuture::from(cache.put_with_str(key, &resp)).await;
        }
    }
}

/// A plain GET with progress; HTTP errors become messages naming the URL and status.
pub async fn fetch_plain(url: &str, expected: u64, progress: &mut dyn FnMut(u64, u64)) -> Result<Vec<u8>, String> {
    fetch_with(url, expected, progress, false).await
}

/// [`fetch_plain`]; `reload` bypasses the browser's HTTP cache (`cache: "reload"`).
async fn fetch_with(url: &str, expected: u64, progress: &mut dyn FnMut(u64, u64), reload: bool) -> Result<Vec<u8>, String> {
    let (global, fetch) = global_fn("fetch")?;
    let init = js_sys::Object::new();
    if reload {
        Reflect::set(&init, &"cache".into(), &"reload".into()).map_err(|e| js_err(url, e))?;
    }
    let promise: Promise = fetch.call2(&global, &JsValue::from_str(url), &init).map_err(|e| js_err(url, e))?.unchecked_into();
    let resp = JsFuture::from(promise).await.map_err(|e| js_err(url, e))?;
    let resp: web_sys::Response = resp.dyn_into().map_err(|_| format!("{url}: not a response"))?;
    if !resp.ok() {
        return Err(format!("{url}: HTTP {} {}", resp.status(), resp.status_text()));
    }
    let total = resp.headers().get("content-length").ok().flatten().and_then(|v| v.parse().ok()).unwrap_or(expected);
    read_body(resp, total, progress).await
}

/// Milliseconds since the page or worker started.
pub fn now_ms() -> f64 {
    let global: JsValue = js_sys::global().into();
    Reflect::get(&global, &"performance".into())
        .ok()
        .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
        .map(|p| p.now())
        .unwrap_or_else(js_sys::Date::now)
}
