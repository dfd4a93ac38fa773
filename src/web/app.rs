//! The page: query box, language and model pickers, ranked multilingual results with the
//! per-language bias strip, side-by-side comparison, robustness plots, and a URL that restores
//! all of it. Inference happens in the worker ([`super::worker`]); this thread only renders.

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use super::fetch::{fetch_plain, fetch_verified};
use super::protocol::{Request, Response};
use super::reproduce_view::{reproduce_entry, reproduce_view, ReproduceHandlers};
use super::state::{Action, AddressBar, Loaded, ReproduceRun, State, MAX_RESTARTS};
use super::url::{UrlState, MAX_QUERY_CHARS};
use super::views;
use crate::assets::{AssetManifest, Example, FileEntry};

const ASSETS: &str = "assets";

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

/// The next request id (kept outside the reducer: callbacks made in an earlier render must not
/// reuse one).
fn take_id(next_id: &std::cell::RefCell<u64>) -> u64 {
    let mut n = next_id.borrow_mut();
    *n += 1;
    *n
}

/// A picked file's bytes.
async fn read_file(file: &web_sys::File) -> Result<Vec<u8>, String> {
    let buf = wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await.map_err(|e| format!("{}: could not be read ({e:?})", file.name()))?;
    Ok(js_sys::Uint8Array::new(&buf).to_vec())
}

fn worker_send(worker: &web_sys::Worker, req: &Request) {
    if let Ok(v) = serde_wasm_bindgen::to_value(req) {
        let _ = worker.post_message(&v);
    }
}

/// Waits until the page's offline copy (`www/sw.js`, registered by `www/index.html`) controls
/// the page, or a few seconds at most: the worker started after it fetches its files through
/// it, so a first visit leaves a complete offline copy without downloading anything twice.
async fn offline_copy_ready() {
    let global: JsValue = js_sys::global().into();
    if let Some(p) = js_sys::Reflect::get(&global, &"hybridIrOfflineReady".into()).ok().and_then(|p| p.dyn_into::<js_sys::Promise>().ok()) {
        let _ = wasm_bindgen_futures::JsFuture::from(p).await;
    }
}

/// A module of one function doing `f32x4.relaxed_madd` on three constants: a browser without wasm
/// relaxed SIMD rejects it, and would reject the relaxed worker the same way.
#[rustfmt::skip]
const RELAXED_SIMD_PROBE: [u8; 82] = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // types: () -> v128
    0x03, 0x02, 0x01, 0x00, // one function of type 0
    0x0a, 0x3d, 0x01, 0x3b, 0x00, // code: one body of 59 bytes, no locals
    0xfd, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // v128.const 0
    0xfd, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // v128.const 0
    0xfd, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // v128.const 0
    0xfd, 0x85, 0x02, // f32x4.relaxed_madd (0x105 as LEB128)
    0x0b, // end
];

/// The worker build for this browser: the relaxed-SIMD one where WebAssembly validates
/// [`RELAXED_SIMD_PROBE`] (unless `?simd=baseline`), the baseline one elsewhere.
fn worker_script(url: &UrlState) -> &'static str {
    let relaxed = url.simd != "baseline" && js_sys::WebAssembly::validate(&js_sys::Uint8Array::from(&RELAXED_SIMD_PROBE[..]).into()).unwrap_or(false);
    if relaxed {
        "./hybrid-ir-worker-relaxed_loader.js"
    } else {
        "./hybrid-ir-worker_loader.js"
    }
}

/// Starts the inference worker and routes its messages into the page's state.
fn start_worker(state: &UseReducerHandle<State>, worker: &Rc<std::cell::RefCell<Option<web_sys::Worker>>>) {
    let opts = web_sys::WorkerOptions::new();
    match web_sys::Worker::new_with_options(worker_script(&UrlState::from_location()), &opts) {
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
            // Read before the first dispatch, which writes the defaults into the address bar.
            let blank = web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default().trim_start_matches('?').is_empty();
            state.dispatch(Action::Url(UrlState::from_location()));
            let (s, w) = (state.clone(), worker.clone());
            wasm_bindgen_futures::spawn_local(async move {
                offline_copy_ready().await;
                start_worker(&s, &w);
            });
            let s = state.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match load_files().await {
                    Ok(l) => {
                        // A visit without parameters opens on an example that shows retrieval
                        // working; the search runs once the models are ready (below).
                        if let Some(u) = UrlState::first_impression(&l.examples, &l.manifest.default_model).filter(|_| blank) {
                            s.dispatch(Action::Url(u));
                        }
                        s.dispatch(Action::Loaded(Rc::new(l)));
                    }
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

    let url = state.url.clone().unwrap_or_else(UrlState::from_location);
    let loaded = state.loaded.clone();
    // A model the bundle or the user (a checkpoint of their own) provides.
    let known = |l: &Loaded, name: &str| l.manifest.models.iter().any(|m| m.name == name) || state.user_models.iter().any(|(n, _)| n == name);
    let model = loaded.as_ref().map(|l| if known(l, &url.model) { url.model.clone() } else { l.manifest.default_model.clone() }).unwrap_or_default();
    let models_wanted: Vec<String> = {
        let mut v = vec![model.clone()];
        match loaded.as_ref() {
            Some(l) if url.view == "bias" => v.extend(views::bias_partner(l, &url, &model)),
            // A reproduction runs one model.
            Some(_) if url.view == "reproduce" => {}
            Some(l) if !url.cmp.is_empty() && url.cmp != model && known(l, &url.cmp) => v.push(url.cmp.clone()),
            _ => {}
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
        let backend = url.backend;
        let pool = url.pool.clone();
        use_effect_with((models_wanted.clone(), ready, state.retries), move |(models, ready, _)| {
            if *ready && !models[0].is_empty() {
                if let Some(w) = worker.borrow().as_ref() {
                    worker_send(w, &Request::Load { assets: ASSETS.into(), models: models.clone(), pool: pool.clone(), backend });
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
            let example = loaded.examples.iter().find(|e| e.text.trim() == q && e.pool.as_deref() == Some(u.pool.as_str()));
            let relevant = example.map(|e| e.relevant.clone()).unwrap_or_default();
            let mut sent = Vec::new();
            if let Some(w) = worker.borrow().as_ref() {
                for m in models_wanted.iter() {
                    let id = take_id(&next_id);
                    worker_send(w, &Request::Search { id, model: m.clone(), pool: u.pool.clone(), query: q.clone(), k: 10, relevant: relevant.clone() });
                    sent.push((id, m.clone(), u.pool.clone(), q.clone(), example.is_some()));
                }
            }
            state.dispatch(Action::Sent(sent));
        })
    };

    // The bias view: every version of its question, one batch per model, once the models are
    // ready (again after a worker restart).
    {
        let state = state.clone();
        let worker = worker.clone();
        let next_id = next_id.clone();
        let ready = models_wanted.iter().all(|m| state.ready_models.contains(m));
        let question = loaded.as_ref().filter(|_| url.view == "bias").and_then(|l| views::bias_question(l, &url));
        use_effect_with((ready, models_wanted.clone(), question), move |(ready, models, question)| {
            let (Some(qid), Some(l), true) = (question, state.loaded.clone(), *ready) else { return };
            let Ok((pool, versions)) = crate::assets::question_versions(&l.examples, qid) else { return };
            let queries = crate::assets::matrix_queries(&versions);
            let relevant = versions[0].relevant.clone();
            let mut sent = Vec::new();
            if let Some(w) = worker.borrow().as_ref() {
                for m in models.iter().filter(|m| state.matrices.get(*m).is_none_or(|o| o.qid != *qid)) {
                    let id = take_id(&next_id);
                    worker_send(w, &Request::Matrix { id, model: m.clone(), pool: pool.to_string(), queries: queries.clone(), relevant: relevant.clone() });
                    sent.push((id, m.clone(), qid.clone()));
                }
            }
            state.dispatch(Action::MatrixSent(sent));
        });
    }

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
                "question" => u.question = v.clone(),
                "size" => u.size = v.clone(),
                "mode" => u.mode = v.clone(),
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
    // The user's own checkpoint (picked or dropped): the two files read here, checked and
    // encoded in the worker.
    let add_checkpoint = {
        let state = state.clone();
        let worker = worker.clone();
        let next_id = next_id.clone();
        let pool = url.pool.clone();
        Callback::from(move |files: Vec<web_sys::File>| {
            if state.backend.is_none() || state.adding.is_some() {
                return state.dispatch(Action::Failed("wait until the engine is ready and any checkpoint being added is done".into()));
            }
            let named: Vec<(String, u64)> = files.iter().map(|f| (f.name(), f.size() as u64)).collect();
            let (m, l) = match crate::assets::pick_checkpoint_files(&named) {
                Ok(found) => found,
                Err(e) => return state.dispatch(Action::Failed(e)),
            };
            let id = take_id(&next_id);
            let (state, worker, pool) = (state.clone(), worker.clone(), pool.clone());
            let (manifest_file, layers_file) = (files[m].clone(), files[l].clone());
            wasm_bindgen_futures::spawn_local(async move {
                match (read_file(&manifest_file).await, read_file(&layers_file).await) {
                    (Ok(manifest), Ok(layers)) => {
                        if let Some(w) = worker.borrow().as_ref() {
                            worker_send(w, &Request::AddCheckpoint { id, manifest, layers, pool });
                            state.dispatch(Action::AddSent(id));
                        }
                    }
                    (Err(e), _) | (_, Err(e)) => state.dispatch(Action::Failed(e)),
                }
            });
        })
    };
    let file_list = |list: Option<web_sys::FileList>| -> Vec<web_sys::File> { list.map(|l| (0..l.length()).filter_map(|i| l.get(i)).collect()).unwrap_or_default() };
    let on_files = {
        let add = add_checkpoint.clone();
        Callback::from(move |e: Event| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            let files = file_list(input.files());
            // Cleared, so picking the same files again (after fixing them) fires again.
            input.set_value("");
            add.emit(files);
        })
    };
    let on_drop = Callback::from(move |e: DragEvent| {
        e.prevent_default();
        add_checkpoint.emit(file_list(e.data_transfer().and_then(|d| d.files())));
    });
    // The Reproduce view: one run at a time, cancelled between the worker's batches.
    let run_reproduce = {
        let state = state.clone();
        let worker = worker.clone();
        let next_id = next_id.clone();
        let (url, model) = (url.clone(), model.clone());
        Callback::from(move |_: MouseEvent| {
            let Some(entry) = state.loaded.as_deref().and_then(|l| reproduce_entry(l, &url)) else { return };
            let (size, mode) = url.reproduce_run();
            let id = take_id(&next_id);
            if let Some(w) = worker.borrow().as_ref() {
                worker_send(w, &Request::Reproduce { id, model: model.clone(), task: entry.task.clone(), size, mode });
                state.dispatch(Action::ReproduceSent(ReproduceRun::new(id, model.clone(), entry.task.clone(), size, mode)));
            }
        })
    };
    let cancel_reproduce = {
        let worker = worker.clone();
        let id = state.reproduce.as_ref().map(|r| r.id);
        Callback::from(move |_: MouseEvent| {
            if let (Some(w), Some(id)) = (worker.borrow().as_ref(), id) {
                worker_send(w, &Request::Cancel { id });
            }
        })
    };
    let view_tab = |name: &'static str| {
        let set_url = set_url.clone();
        Callback::from(move |_: MouseEvent| set_url(&|u: &mut UrlState| u.view = name.to_string()))
    };

    let retry = {
        let state = state.clone();
        Callback::from(move |_: MouseEvent| state.dispatch(Action::Retry))
    };
    let body = match &loaded {
        None => html! { <p class="muted">{ "Loading the manifest\u{2026}" }</p> },
        Some(l) if url.view == "charts" => match (&l.manifest.results, state.lazy.results.as_deref()) {
            (None, _) => html! { <p>{ "No sweep results in this bundle yet." }</p> },
            (Some(_), None) => html! { <p class="muted">{ "Loading the sweep results\u{2026}" }</p> },
            (Some(_), Some(results)) => views::charts_view(l, &state, results, &url, &model, &select),
        },
        Some(l) if url.view == "bias" => views::bias_view(l, &state, &url, &models_wanted, &select),
        Some(l) if url.view == "reproduce" => {
            reproduce_view(l, &state, &url, &model, ReproduceHandlers { select: &select, run: run_reproduce, cancel: cancel_reproduce })
        }
        Some(l) => {
            let handlers = views::SearchHandlers { select: &select, on_submit, on_example, on_files, on_drop, input: input.clone() };
            views::search_view(l, &state, &url, &model, &models_wanted, handlers)
        }
    };

    html! {
        <main>
            <header>
                <h1>{ "hybrid-ir" }</h1>
                <p class="lead">{ "Ask in one language, find answers in twelve. Encoders fine-tuned with a share alpha of monolingual batches run here, in your browser; watch where each language's answer lands." }</p>
                <nav>
                    <button class={classes!("tab", (url.view == "search").then_some("active"))} onclick={view_tab("search")} data-testid="tab-search">{ "Search" }</button>
                    <button class={classes!("tab", (url.view == "bias").then_some("active"))} onclick={view_tab("bias")} data-testid="tab-bias">{ "Language bias, one question" }</button>
                    <button class={classes!("tab", (url.view == "charts").then_some("active"))} onclick={view_tab("charts")} data-testid="tab-charts">{ "Robustness plots" }</button>
                    <button class={classes!("tab", (url.view == "reproduce").then_some("active"))} onclick={view_tab("reproduce")} data-testid="tab-reproduce">{ "Reproduce a figure" }</button>
                </nav>
                { views::status_bar(&state) }
            </header>
            { views::error_box(&state, retry) }
            { views::query_cut_note(&url) }
            { body }
            { loaded.as_ref().map(|l| views::footer(l, &model)).unwrap_or_default() }
        </main>
    }
}


/// Entry point of the page binary.
pub fn run() {
    yew::Renderer::<App>::new().render();
}
