//! What the page draws, as functions of its state: the status bar, the error box, the search
//! view with its result columns, the robustness plots and the provenance footer. No hooks here;
//! the component in [`super::app`] owns the state and the handlers.

use std::collections::BTreeMap;

use yew::prelude::*;

use super::charts;
use super::state::{Loaded, State};
use super::url::{UrlState, MAX_QUERY_CHARS, MKQA_LANGS};
use crate::assets::{default_matrix_question, matrix_questions, question_versions, Example};
use crate::metrics::LanguageMatrix;

pub fn short(sha: &str) -> String {
    sha.chars().take(12).collect()
}

pub fn model_label(m: &crate::assets::ModelEntry) -> String {
    match m.alpha {
        Some(a) => format!("alpha = {a} (seed {})", m.seed.unwrap_or(0)),
        None => "base (no fine-tuning)".into(),
    }
}


/// One `<option>` per model of the bundle and per checkpoint the user brought (`user`: name,
/// label), `selected` marked.
pub(crate) fn model_options(l: &Loaded, user: &[(String, String)], selected: &str) -> Html {
    let bundle = l.manifest.models.iter().map(|m| (m.name.clone(), model_label(m)));
    bundle
        .chain(user.iter().cloned())
        .map(|(name, label)| html! { <option value={name.clone()} selected={name == selected}>{ label }</option> })
        .collect()
}

/// A model's label: the bundle's, a user checkpoint's, or its name.
pub(crate) fn label_of(l: &Loaded, user: &[(String, String)], model: &str) -> String {
    let bundle = l.manifest.models.iter().find(|m| m.name == model).map(model_label);
    bundle.or_else(|| user.iter().find(|(n, _)| n == model).map(|(_, label)| label.clone())).unwrap_or_else(|| model.to_string())
}

/// Backend, download progress, load timings.
pub fn status_bar(state: &State) -> Html {
    let backend = state.backend.as_ref().map(|(b, note)| {
        html! {
            <span class={classes!("badge", if b == "WebGPU" { "gpu" } else { "cpu" })} data-testid="backend" title={note.clone().unwrap_or_default()}>
                { b.clone() }
            </span>
        }
    });
    let note = state.backend.as_ref().and_then(|(_, n)| n.clone()).map(|n| html! { <span class="muted" data-testid="backend-note">{ format!(" {n}.") }</span> });
    let detail = state.backend_detail.as_ref().map(|d| html! {
        <details class="muted" data-testid="backend-detail"><summary>{ "details" }</summary><code>{ d.clone() }</code></details>
    });
    let progress = state.progress.as_ref().map(|(what, done, total, texts)| {
        let pct = if *total > 0 { 100.0 * *done as f64 / *total as f64 } else { 0.0 };
        let text = match texts {
            true => format!("encoding {what}: {done} / {total} texts "),
            false => format!("loading {what}: {:.1} / {:.1} MB ", *done as f64 / 1e6, *total as f64 / 1e6),
        };
        html! {
            <span class="progress" data-testid="progress">
                { text }
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
    html! { <div class="status">{ backend }{ note }{ detail }{ progress }{ timings }{ waiting }</div> }
}

/// The last error, with a Retry button that sends the load again.
pub fn error_box(state: &State, retry: Callback<MouseEvent>) -> Html {
    let Some(e) = state.error.as_ref() else { return Html::default() };
    html! {
        <div class="error" role="alert" data-testid="error">
            { e.clone() }
            <button data-testid="retry" onclick={retry}>{ "Retry" }</button>
        </div>
    }
}

/// Says that an over-long query was cut, and by how much.
pub fn query_cut_note(url: &UrlState) -> Html {
    if url.q_cut == 0 {
        return Html::default();
    }
    html! {
        <p class="muted" data-testid="query-cut">{ format!("The query was cut to its first {MAX_QUERY_CHARS} characters ({} more were dropped).", url.q_cut) }</p>
    }
}

/// The robustness plots: quality and bias against alpha, and the language-pair heatmap.
/// The checkpoints the user brought that have a Reproduce run on `task`, as points on the plots:
/// each run's figures minus the base's reference for the same task and size.
fn user_marks(l: &Loaded, state: &State, task: &str) -> Vec<charts::UserMark> {
    state
        .user_runs
        .iter()
        .filter(|r| r.task == task)
        .filter_map(|r| {
            let base = l.manifest.reproduce.iter().find(|e| e.task == r.task)?.reference("base", r.size)?;
            let change = r.figures.values.iter().filter_map(|(k, v)| Some((k.clone(), v - base.figures.values.get(k)?))).collect();
            let alpha = *state.user_alpha.get(&r.model)?;
            Some(charts::UserMark { label: label_of(l, &state.user_models, &r.model), alpha, questions: r.figures.questions, change })
        })
        .collect()
}

pub fn charts_view(l: &Loaded, state: &State, results: &serde_json::Value, url: &UrlState, model: &str, select: &dyn Fn(&'static str) -> Callback<Event>) -> Html {
    let task_list = charts::tasks(results);
    let task = if task_list.contains(&url.task) { url.task.clone() } else { task_list.first().cloned().unwrap_or_default() };
    let marks = user_marks(l, state, &task);
    let marks_note = (!marks.is_empty()).then(|| html! {
        <p class="muted" data-testid="user-marks">{ "Yellow diamonds: your checkpoint, from its run in the Reproduce view (its figures minus the base's on the same questions; a sample's points are noisier than the sweep's)." }</p>
    });
    let heat_model = if l.manifest.models.iter().any(|m| m.name == url.heat) { url.heat.clone() } else { model.to_string() };
    html! {
        <section class="charts">
            <label>{ "task " }
                <select onchange={select("task")} data-testid="task">
                    { for task_list.iter().map(|t| html! { <option value={t.clone()} selected={*t == task}>{ t.clone() }</option> }) }
                </select>
            </label>
            <h3>{ "Retrieval quality vs alpha" }</h3>
            <p class="muted" data-testid="charts-caption">{ "Mo.: query and pool in one language; Cr.: pool in another language; Mul.: one pool of all languages, where every language's answer must rank high. Each point: the change versus the base model, averaged over the training seeds; whiskers: the seeds' standard deviation; filled: the seed-aware paired 95% bootstrap interval versus the base excludes zero (each resample draws the training seeds again, then the questions, or whole articles on XQuAD-R and MLQA-R, so it says whether the difference would survive training with other seeds). The table gives the same seed-aware differences between alphas." }</p>
            { marks_note }
            { charts::map_vs_alpha(results, &task, &marks) }
            <h3>{ "Language bias vs alpha" }</h3>
            <p class="muted">{ "For each question, how far apart (in ranks) the best answers of the different languages land; lower means the model treats languages alike." }</p>
            { charts::bias_vs_alpha(results, &task, &marks) }
            <h3>{ "Language pairs" }
                <select onchange={select("heat")} data-testid="heat">
                    { model_options(l, &[], &heat_model) }
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

/// What the search form needs from the page: its handlers and the query box.
pub struct SearchHandlers<'a> {
    pub select: &'a dyn Fn(&'static str) -> Callback<Event>,
    pub on_submit: Callback<SubmitEvent>,
    pub on_example: Callback<Event>,
    /// Files picked for a checkpoint of the user's own, or dropped on the form.
    pub on_files: Callback<Event>,
    pub on_drop: Callback<DragEvent>,
    pub input: NodeRef,
}

/// The search view: language, example, query, pool and model pickers, and one result column
/// per model.
pub fn search_view(l: &Loaded, state: &State, url: &UrlState, model: &str, models_wanted: &[String], h: SearchHandlers) -> Html {
    let SearchHandlers { select, on_submit, on_example, on_files, on_drop, input } = h;
    let examples: Vec<&Example> = l.examples.iter().filter(|e| e.lang == url.lang && (e.pool.is_none() || e.pool.as_deref() == Some(url.pool.as_str()))).collect();
    let mut langs: Vec<(String, String)> = MKQA_LANGS.iter().map(|(c, n)| (c.to_string(), n.to_string())).collect();
    for e in &l.examples {
        if !langs.iter().any(|(c, _)| *c == e.lang) {
            langs.push((e.lang.clone(), e.lang.clone()));
        }
    }
    let columns = models_wanted.iter().map(|m| result_column(l, state, m, &url.pool));
    html! {
        <>
        // The form takes a checkpoint's two files dropped on it (dragover must be cancelled for
        // the browser to allow a drop).
        <form class="controls" onsubmit={on_submit} data-testid="drop-zone" ondrop={on_drop} ondragover={Callback::from(|e: DragEvent| e.prevent_default())}>
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
                    { model_options(l, &state.user_models, model) }
                </select>
            </label>
            <label>{ "compare with " }
                <select onchange={select("cmp")} data-testid="cmp">
                    <option value="" selected={url.cmp.is_empty()}>{ "nothing" }</option>
                    { model_options(l, &state.user_models, &url.cmp) }
                </select>
            </label>
            <label title="the two files of a checkpoint folder written by `hybrid-ir train` (pick them, or drop them on this form); checked against the base model; nothing leaves your browser">
                { "your checkpoint (or drop its files here) " }
                <input type="file" multiple=true accept=".json,.safetensors" data-testid="checkpoint-files" onchange={on_files}
                    disabled={state.backend.is_none() || state.adding.is_some()} />
            </label>
        </form>
        { if state.adding.is_some() { html! { <p class="muted" data-testid="adding">{ "Checking your checkpoint and encoding the pool with it, here in your browser\u{2026}" }</p> } } else { html! {} } }
        { pool_note(l, &url.pool) }
        <div class="columns">{ for columns }</div>
        </>
    }
}

/// One line on what the chosen pool holds: a free-text question finds only what is in it, so a
/// first-time visitor knows why "408 kilometers" can be the best a pool of short answers offers.
pub fn pool_note(l: &Loaded, pool: &str) -> Html {
    let Some(p) = l.manifest.pools.iter().find(|p| p.name == pool) else { return Html::default() };
    let what = match p.name.as_str() {
        "mkqa" => "short answers (names, numbers, dates) to MKQA questions",
        "xquad-r" => "sentences of held-out XQuAD-R Wikipedia paragraphs",
        _ => p.title.as_str(),
    };
    html! {
        <p class="muted pool-note" data-testid="pool-note">
            { format!(
                "The pool: {} {what}, in {} languages. A question finds only what the pool holds; the example questions have known answers, marked \u{2713} where they rank.",
                p.count, p.langs.len()
            ) }
        </p>
    }
}

/// Provenance: commit, bundle, base and model hashes, data checksums.
pub fn footer(l: &Loaded, model: &str) -> Html {
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
}

/// One model's ranked results, with the per-language bias strip.
pub fn result_column(l: &Loaded, state: &State, model: &str, pool: &str) -> Html {
    let (lazy, outcome) = (&state.lazy, state.results.get(model));
    let label = label_of(l, &state.user_models, model);
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


/// The bias view's question: the URL's, else [`default_matrix_question`].
pub fn bias_question(l: &Loaded, url: &UrlState) -> Option<String> {
    let chosen = matrix_questions(&l.examples).into_iter().find(|(q, ..)| *q == url.question).map(|q| q.0);
    chosen.or(default_matrix_question(&l.examples)).map(str::to_string)
}

/// The bias view's second model: the URL's `cmp`, else the base (or, when the first is the
/// base, the bundle's default), so the view opens on the lesson: base next to fine-tuned.
pub fn bias_partner(l: &Loaded, url: &UrlState, model: &str) -> Option<String> {
    let known = |m: &str| l.manifest.models.iter().any(|x| x.name == m);
    let partner = if known(&url.cmp) {
        url.cmp.clone()
    } else if model != "base" && known("base") {
        "base".to_string()
    } else {
        l.manifest.default_model.clone()
    };
    (partner != model).then_some(partner)
}

/// The view that teaches language bias: one question in every language of its pool, and for
/// each model a matrix of where each language's answer ranks.
pub fn bias_view(l: &Loaded, state: &State, url: &UrlState, models: &[String], select: &dyn Fn(&'static str) -> Callback<Event>) -> Html {
    let questions = matrix_questions(&l.examples);
    let Some(qid) = bias_question(l, url) else {
        return html! { <p class="muted">{ "This bundle has no question asked in several languages." }</p> };
    };
    let label = |q: &str| {
        let versions = question_versions(&l.examples, q).map(|(_, v)| v).unwrap_or_default();
        let en = versions.iter().find(|e| e.lang == "en").or(versions.first()).map(|e| e.text.clone()).unwrap_or_default();
        format!("{en} ({} languages)", versions.len())
    };
    let (pool, versions) = match question_versions(&l.examples, &qid) {
        Ok(v) => v,
        Err(e) => return html! { <p class="error" data-testid="error">{ e }</p> },
    };
    let count = l.manifest.pools.iter().find(|p| p.name == pool).map(|p| p.count).unwrap_or(0);
    let pending = state.pending_matrix.values().any(|(_, q)| *q == qid);
    html! {
        <section class="bias">
            <div class="controls">
                <label>{ "question " }
                    <select onchange={select("question")} data-testid="question">
                        { for questions.iter().map(|(q, ..)| html! { <option value={q.to_string()} selected={*q == qid}>{ label(q) }</option> }) }
                    </select>
                </label>
                <label>{ "model " }<select onchange={select("model")} data-testid="model">{ model_options(l, &state.user_models, &models[0]) }</select></label>
                <label>{ "next to " }<select onchange={select("cmp")} data-testid="cmp">{ model_options(l, &state.user_models, models.get(1).unwrap_or(&models[0])) }</select></label>
            </div>
            <p class="caption" data-testid="matrix-caption">
                { format!(
                    "The same question asked in each of its {} languages (rows), searched in one pool of {count} answers in all of them. \
                     Each cell: the rank of the best correct answer written in that column's language (1 = first). \
                     Look at the outlined diagonal: a model biased towards the query's language ranks the answer in the question's own \
                     language far above the same answer in other languages (small numbers on the diagonal, large ones beside it). \
                     A model that treats languages alike has even rows. Computed now, in your browser.",
                    versions.len()
                ) }
            </p>
            { if pending { html! { <p class="muted" data-testid="matrix-pending">{ format!("encoding {} versions of the question\u{2026}", versions.len()) }</p> } } else { html! {} } }
            <div class="columns">
                { for models.iter().map(|m| matrix_column(l, state, m, &qid, count)) }
            </div>
        </section>
    }
}

/// One model's matrix with its summary line.
fn matrix_column(l: &Loaded, state: &State, model: &str, qid: &str, pool_size: usize) -> Html {
    let outcome = state.matrices.get(model).filter(|o| o.qid == qid);
    let label = label_of(l, &state.user_models, model);
    let Some(o) = outcome else {
        return html! { <section class="column" data-model={model.to_string()}><h2>{ label }</h2><p class="muted">{ "No matrix yet." }</p></section> };
    };
    let m = &o.matrix;
    let (first, with_own) = m.own_language_first();
    let (own, other) = m.median_ranks();
    let fmt = |v: Option<f64>| v.map(|x| format!("{x:.0}")).unwrap_or_else(|| "-".into());
    html! {
        <section class="column" data-model={model.to_string()} data-question={o.qid.clone()}
            data-ranks={serde_json::to_string(&m.ranks).unwrap_or_default()} data-testid="matrix">
            <h2>{ label }</h2>
            <p class="summary" data-testid="matrix-summary">
                { format!(
                    "own language ranked first in {} of {with_own} rows \u{00b7} median rank: own language {}, other languages {} \u{00b7} language bias (mean spread) {}",
                    crate::metrics::count_text(first), fmt(own), fmt(other), fmt(m.mean_bias())
                ) }
            </p>
            { matrix_table(m, pool_size) }
            <p class="muted">{ format!("{} versions encoded in one batch in {:.0} ms ({} tokens)", m.query_langs.len(), o.encode_ms, o.tokens) }</p>
        </section>
    }
}

/// Background of a cell: green at rank 1, red at the bottom of the pool (log scale).
fn rank_colour(rank: usize, pool_size: usize) -> String {
    let top = (pool_size.max(2) as f64).log10();
    let x = ((rank.max(1) as f64).log10() / top).clamp(0.0, 1.0);
    format!("background: hsl({:.0}, 70%, {:.0}%)", 120.0 * (1.0 - x), 78.0 + 8.0 * x)
}

fn matrix_table(m: &LanguageMatrix, pool_size: usize) -> Html {
    html! {
        <table class="matrix">
            <thead>
                <tr>
                    <th class="corner">{ "query \u{2193} / answer \u{2192}" }</th>
                    { for m.answer_langs.iter().map(|a| html! { <th scope="col">{ a.clone() }</th> }) }
                </tr>
            </thead>
            <tbody>
                { for m.query_langs.iter().zip(&m.ranks).map(|(q, row)| html! {
                    <tr>
                        <th scope="row">{ q.clone() }</th>
                        { for m.answer_langs.iter().zip(row).map(|(a, cell)| {
                            let own = a == q;
                            match cell {
                                Some(r) => html! {
                                    <td class={classes!(own.then_some("own"))} style={rank_colour(*r, pool_size)}
                                        title={format!("asked in {q}: the best correct {a} answer ranks {r} of {pool_size}")}>{ r.to_string() }</td>
                                },
                                None => html! { <td class={classes!("none", own.then_some("own"))} title={format!("no correct {a} answer in the pool")}>{ "\u{2013}" }</td> },
                            }
                        }) }
                    </tr>
                }) }
            </tbody>
        </table>
    }
}
