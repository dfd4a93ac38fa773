//! The "Reproduce" view: pick a model, a task, its sample or all of it, and where the pool's
//! embeddings come from; the worker encodes and scores, and the view holds each figure against
//! the bundle's reference (committed results) with the tolerance that applies.

use yew::prelude::*;

use super::state::{Loaded, ReproduceRun, State};
use super::url::UrlState;
use super::views::{label_of, model_options};
use crate::assets::reproduce::{tolerance, verdict, Mode, ReproduceEntry, Size, REPRODUCED, SAMPLE_QUESTIONS};
use crate::study::stats::{figure, FIGURE_LABELS};

/// The view's handlers (owned by the component).
pub struct ReproduceHandlers<'a> {
    pub select: &'a dyn Fn(&'static str) -> Callback<Event>,
    pub run: Callback<MouseEvent>,
    pub cancel: Callback<MouseEvent>,
}

/// The task the URL names, else the bundle's first.
pub fn reproduce_entry<'a>(l: &'a Loaded, url: &UrlState) -> Option<&'a ReproduceEntry> {
    let tasks = &l.manifest.reproduce;
    tasks.iter().find(|e| e.task == url.task).or(tasks.first())
}

/// What a run will do; `own_index`: the model is a checkpoint the user brought, whose "shipped"
/// index is the one this browser encoded when it was added.
fn plan(entry: &ReproduceEntry, size: Size, mode: Mode, pool_count: usize, own_index: bool) -> String {
    let (questions, queries) = match size {
        Size::Sample => (entry.questions.min(SAMPLE_QUESTIONS), entry.sample_queries),
        Size::Whole => (entry.questions, entry.query_count),
    };
    let pool = match mode {
        Mode::Shipped if own_index => format!("ranked against your checkpoint's index of its {pool_count} pool texts (encoded in this browser, f32)"),
        Mode::Shipped => format!("ranked against the shipped index of its {pool_count} pool texts (int8)"),
        Mode::Scratch => format!("ranked against its {pool_count} pool texts, encoded here too"),
    };
    format!("{queries} queries ({questions} questions in all their languages) encoded in your browser, {pool}.")
}

pub fn reproduce_view(l: &Loaded, state: &State, url: &UrlState, model: &str, h: ReproduceHandlers) -> Html {
    let Some(entry) = reproduce_entry(l, url) else {
        return html! { <p class="muted">{ "This bundle has no tasks to reproduce; rebuild it with `hybrid-ir web-assets`." }</p> };
    };
    let (size, mode) = url.reproduce_run();
    let pool_count = l.manifest.pools.iter().find(|p| p.name == entry.pool).map(|p| p.count).unwrap_or(0);
    let run = state.reproduce.as_ref();
    let running = run.is_some_and(ReproduceRun::running);
    let ready = state.ready_models.iter().any(|m| m == model);
    let select = h.select;
    html! {
        <section class="reproduce">
            <p class="caption" data-testid="reproduce-caption">
                { format!(
                    "Check a published figure yourself. The sample is the task's first {SAMPLE_QUESTIONS} questions, each in all of its \
                     languages, against the whole pool: what `hybrid-ir eval --task {} --max-questions {SAMPLE_QUESTIONS}` evaluates. \
                     The figures are computed here with the project's own ranking and metric code and set beside the reference.",
                    entry.task
                ) }
            </p>
            <div class="controls">
                <label>{ "model " }<select onchange={select("model")} data-testid="model">{ model_options(l, &state.user_models, model) }</select></label>
                <label>{ "task " }
                    <select onchange={select("task")} data-testid="reproduce-task">
                        { for l.manifest.reproduce.iter().map(|e| html! { <option value={e.task.clone()} selected={e.task == entry.task}>{ e.title.clone() }</option> }) }
                    </select>
                </label>
                <label>{ "size " }
                    <select onchange={select("size")} data-testid="reproduce-size">
                        <option value="" selected={size == Size::Sample}>{ format!("sample: {} questions", entry.questions.min(SAMPLE_QUESTIONS)) }</option>
                        <option value="whole" selected={size == Size::Whole}>{ format!("whole task: {} questions", entry.questions) }</option>
                    </select>
                </label>
                <label>{ "pool " }
                    <select onchange={select("mode")} data-testid="reproduce-mode">
                        <option value="" selected={mode == Mode::Shipped}>{ "shipped index" }</option>
                        <option value="scratch" selected={mode == Mode::Scratch}>{ "from scratch (encode the pool here)" }</option>
                    </select>
                </label>
                if running {
                    <button onclick={h.cancel} data-testid="reproduce-cancel">{ "Cancel" }</button>
                } else {
                    <button onclick={h.run} disabled={!ready} data-testid="reproduce-run">{ if ready { "Run" } else { "loading the model\u{2026}" } }</button>
                }
            </div>
            <p class="muted" data-testid="reproduce-plan">{ plan(entry, size, mode, pool_count, state.user_models.iter().any(|(n, _)| n == model)) }</p>
            { run.map(run_status).unwrap_or_default() }
            { run.and_then(|r| outcome(l, state, r)).unwrap_or_default() }
        </section>
    }
}

/// Progress with an estimate of the stage's time left, or how the run ended.
fn run_status(r: &ReproduceRun) -> Html {
    if let Some(e) = &r.error {
        return html! { <p class="error" data-testid="reproduce-error">{ format!("The run stopped: {e}") }</p> };
    }
    if r.cancelled {
        return html! { <p class="muted" data-testid="reproduce-cancelled">{ "Cancelled." }</p> };
    }
    if r.outcome.is_some() {
        return Html::default();
    }
    let Some((stage, done, total, elapsed_ms)) = &r.progress else {
        return html! { <p class="muted" data-testid="reproduce-progress">{ "fetching the task's queries and word-table rows\u{2026}" }</p> };
    };
    let left = (*done > 0 && done < total).then(|| elapsed_ms / 1e3 / *done as f64 * (*total - *done) as f64);
    let text = match stage.as_str() {
        "scoring" => format!("scoring {total} queries \u{00b7} {:.0} s so far", elapsed_ms / 1e3),
        _ => format!(
            "encoding the {stage}: {done} / {total} texts \u{00b7} {:.0} s for the {stage} so far{}",
            elapsed_ms / 1e3,
            left.map(|s| format!(" \u{00b7} about {s:.0} s left for the {stage}")).unwrap_or_default()
        ),
    };
    let pct = if *total > 0 { 100.0 * *done as f64 / *total as f64 } else { 0.0 };
    html! {
        <p class="progress" data-testid="reproduce-progress">{ text }{ " " }<progress max="100" value={format!("{pct:.0}")} /></p>
    }
}

/// The run's figures beside the reference of the same model, size and task, and the verdict
/// (the run's own task: the pickers may have moved on since).
fn outcome(l: &Loaded, state: &State, r: &ReproduceRun) -> Option<Html> {
    let o = r.outcome.as_ref()?;
    let entry = l.manifest.reproduce.iter().find(|e| e.task == r.task)?;
    let label = label_of(l, &state.user_models, &r.model);
    let timing = format!(
        "{} queries against {} pool texts \u{00b7} word-table rows: {:.1} MB fetched in {:.1} s \u{00b7} queries encoded in {:.1} s, pool {} in {:.1} s, scored in {:.1} s",
        o.queries,
        o.pool,
        o.word_bytes as f64 / 1e6,
        o.words_ms / 1e3,
        o.queries_ms / 1e3,
        if r.mode == Mode::Scratch { "encoded" } else { "index loaded" },
        o.pool_ms / 1e3,
        o.score_ms / 1e3,
    );
    let measured_json = serde_json::to_string(&o.figures).unwrap_or_default();
    let Some(reference) = entry.reference(&r.model, r.size) else {
        return Some(html! {
            <div class="column" data-testid="reproduce-table" data-figures={measured_json}>
                <h2>{ format!("{label} on {}", r.task) }</h2>
                <p class="muted" data-testid="reproduce-verdict" data-ok="none">{ "No published figures for this model: these are its own." }</p>
                { figures_table(&REPRODUCED.iter().filter_map(|n| Some((n.to_string(), *o.figures.values.get(*n)?, None))).collect::<Vec<_>>(), r.mode) }
                <p class="muted" data-testid="reproduce-timings">{ timing }</p>
            </div>
        });
    };
    let checks = verdict(&o.figures, &reference.figures, r.mode);
    let failed = checks.iter().filter(|c| !c.ok).count();
    let (class, text) = match failed {
        0 => ("ok", format!("Reproduced: all {} figures agree with the reference within tolerance.", checks.len())),
        n => ("bad", format!("Not reproduced: {n} of {} figures differ from the reference by more than allowed.", checks.len())),
    };
    let rows: Vec<FigureRow> =
        checks.iter().map(|c| (c.figure.clone(), c.measured, Some((c.reference, c.diff, c.allowed, c.ok)))).collect();
    Some(html! {
        <div class="column" data-testid="reproduce-table" data-figures={measured_json}>
            <h2>{ format!("{label} on {}, {}", entry.title, if r.size == Size::Sample { "sample" } else { "whole task" }) }</h2>
            <p class={classes!("verdict", class)} data-testid="reproduce-verdict" data-ok={(failed == 0).to_string()}>{ text }</p>
            { figures_table(&rows, r.mode) }
            <p class="muted" data-testid="reproduce-source">{ format!("Reference ({} questions): {}", reference.figures.questions, reference.source) }</p>
            <p class="muted" data-testid="reproduce-timings">{ timing }</p>
        </div>
    })
}

/// One row of the figures table: (figure, measured, (reference, difference, allowed, ok)).
type FigureRow = (String, f64, Option<(f64, f64, f64, bool)>);

fn figures_table(rows: &[FigureRow], mode: Mode) -> Html {
    let fmt = |name: &str, v: f64| if name == "bias" { format!("{v:.1}") } else { format!("{v:.4}") };
    html! {
        <table class="contrasts">
            <tr><th>{ "figure" }</th><th>{ "in your browser" }</th><th>{ "reference" }</th><th>{ "difference" }</th><th>{ "allowed" }</th><th></th></tr>
            { for rows.iter().map(|(name, measured, check)| {
                let label = FIGURE_LABELS[figure(name)];
                let allowed_text = |allowed: f64| match name.as_str() {
                    "bias" => format!("\u{00b1}{:.1} ({:.1}%)", allowed, 100.0 * tolerance(name, mode)),
                    _ => format!("\u{00b1}{allowed:.4}"),
                };
                match check {
                    Some((reference, diff, allowed, ok)) => html! {
                        <tr data-figure={name.clone()}>
                            <td>{ label }</td><td>{ fmt(name, *measured) }</td><td>{ fmt(name, *reference) }</td>
                            <td>{ if name == "bias" { format!("{diff:+.2}") } else { format!("{diff:+.5}") } }</td>
                            <td>{ allowed_text(*allowed) }</td>
                            <td class={if *ok { "sig" } else { "bad" }}>{ if *ok { "\u{2713}" } else { "\u{2717}" } }</td>
                        </tr>
                    },
                    None => html! { <tr data-figure={name.clone()}><td>{ label }</td><td>{ fmt(name, *measured) }</td><td>{ "-" }</td><td></td><td></td><td></td></tr> },
                }
            }) }
        </table>
    }
}
