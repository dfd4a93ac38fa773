//! Robustness plots drawn as SVG from the committed sweep results (`results/sweep/sweep.json`):
//! mAP vs alpha with 95% intervals, the query-language x pool-language heat-map of one model,
//! and language bias vs alpha. Every mark carries a `<title>`, so hovering shows exact numbers.

use std::collections::BTreeMap;

use serde_json::Value;
use yew::prelude::*;

const W: f64 = 560.0;
const H: f64 = 300.0;
const PAD_L: f64 = 56.0;
const PAD_R: f64 = 110.0;
const PAD_T: f64 = 20.0;
const PAD_B: f64 = 44.0;

/// (alpha, task report) of every trained model, sorted by alpha; the base model separately.
fn series<'a>(results: &'a Value, task: &str) -> (Vec<(f64, &'a Value)>, Option<&'a Value>) {
    let mut points = Vec::new();
    let mut base = None;
    for e in results["entries"].as_array().into_iter().flatten() {
        let Some(t) = e["report"]["tasks"].as_array().into_iter().flatten().find(|t| t["task"] == task) else { continue };
        match e["alpha"].as_f64() {
            Some(a) => points.push((a, t)),
            None => base = Some(t),
        }
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    (points, base)
}

pub fn tasks(results: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in results["entries"].as_array().into_iter().flatten() {
        for t in e["report"]["tasks"].as_array().into_iter().flatten() {
            if let Some(name) = t["task"].as_str() {
                if !out.iter().any(|x| x == name) {
                    out.push(name.to_string());
                }
            }
        }
    }
    out
}

fn x_of(alpha: f64) -> f64 {
    PAD_L + alpha * (W - PAD_L - PAD_R)
}

/// The x-axis labels: the alphas the sweep has (any grid, not only ours), in order.
fn alpha_ticks(alphas: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut out: Vec<f64> = alphas.into_iter().filter(|a| a.is_finite()).collect();
    out.sort_by(f64::total_cmp);
    out.dedup();
    out
}

fn axes(alphas: &[f64], y_max: f64, y_label: &str, ticks: &[f64], fmt: impl Fn(f64) -> String) -> Html {
    let y_of = |v: f64| H - PAD_B - v / y_max * (H - PAD_T - PAD_B);
    html! {
        <g class="axes">
            <line x1={PAD_L.to_string()} y1={(H - PAD_B).to_string()} x2={(W - PAD_R).to_string()} y2={(H - PAD_B).to_string()} />
            <line x1={PAD_L.to_string()} y1={PAD_T.to_string()} x2={PAD_L.to_string()} y2={(H - PAD_B).to_string()} />
            { for alphas.iter().map(|a| html! {
                <text x={x_of(*a).to_string()} y={(H - PAD_B + 16.0).to_string()} text-anchor="middle">{ format!("{a}") }</text>
            }) }
            <text x={((PAD_L + W - PAD_R) / 2.0).to_string()} y={(H - 6.0).to_string()} text-anchor="middle">
                { "alpha = share of monolingual batches" }
            </text>
            { for ticks.iter().map(|t| html! {
                <g>
                    <line class="grid" x1={PAD_L.to_string()} x2={(W - PAD_R).to_string()} y1={y_of(*t).to_string()} y2={y_of(*t).to_string()} />
                    <text x={(PAD_L - 6.0).to_string()} y={(y_of(*t) + 4.0).to_string()} text-anchor="end">{ fmt(*t) }</text>
                </g>
            }) }
            <text x="14" y={((PAD_T + H - PAD_B) / 2.0).to_string()} transform={format!("rotate(-90 14 {})", (PAD_T + H - PAD_B) / 2.0)} text-anchor="middle">{ y_label }</text>
        </g>
    }
}

/// The study's summary of one task, when the bundle carries it.
fn study_task<'a>(results: &'a Value, task: &str) -> Option<&'a Value> {
    results["study"]["tasks"].as_array()?.iter().find(|t| t["task"] == task && !t["alphas"].as_array().is_none_or(Vec::is_empty))
}

/// `a - b` of one figure from the study's paired contrasts: (estimate, lo, hi).
fn contrast(st: &Value, a: &str, b: &str, fig: &str) -> Option<(f64, f64, f64)> {
    let c = st["contrasts"].as_array()?.iter().find(|c| c["a"] == a && c["b"] == b)?;
    let f = &c["figures"][fig];
    Some((f["estimate"].as_f64()?, f["lo"].as_f64()?, f["hi"].as_f64()?))
}

/// One plotted figure: key in the study, label, colour, scale to display units.
struct Fig(&'static str, &'static str, &'static str, f64);

/// A checkpoint the user brought, on the plots: its Reproduce run's figures minus the base's
/// reference figures of the same task, size and pool (raw units, by figure name).
pub struct UserMark {
    pub label: String,
    pub alpha: f64,
    /// Questions of the run (the sample's or the whole task's).
    pub questions: usize,
    pub change: BTreeMap<String, f64>,
}

struct Pt {
    alpha: f64,
    d: f64,
    sd: f64,
    sig: Option<(f64, f64, f64)>,
}

impl Pt {
    fn excludes_zero(&self) -> bool {
        self.sig.is_some_and(|(_, l, h)| l > 0.0 || h < 0.0)
    }
}

/// Per alpha: the change of `f` versus the base (display units), its seed sd, the paired
/// interval of (alpha - base).
fn change_points(st: &Value, f: &Fig) -> Vec<Pt> {
    let base = st["base"][f.0].as_f64().unwrap_or(f64::NAN);
    st["alphas"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| {
            let alpha = a["alpha"].as_f64()?;
            Some(Pt {
                alpha,
                d: f.3 * (a["mean"][f.0].as_f64()? - base),
                sd: f.3 * a["sd"][f.0].as_f64().unwrap_or(0.0),
                sig: contrast(st, &alpha.to_string(), "base", f.0),
            })
        })
        .filter(|p| p.d.is_finite())
        .collect()
}

/// Change versus the base model per alpha for each figure: seed mean, whiskers +- 1 seed sd,
/// filled where the seed-aware paired 95% interval of (alpha - base) excludes zero (the study's
/// headline `figures`: seeds, then questions or articles, resampled), hollow where not. The
/// axis spans the data, so differences of a point or two stay visible.
fn change_chart(st: &Value, figs: &[Fig], marks: &[UserMark], y_label: &str, aria: String) -> Html {
    let series: Vec<(&Fig, Vec<Pt>)> = figs.iter().map(|f| (f, change_points(st, f))).collect();
    // The user's points: (figure, mark, change in display units).
    let user: Vec<(&Fig, &UserMark, f64)> =
        figs.iter().flat_map(|f| marks.iter().filter_map(move |m| Some((f, m, f.3 * m.change.get(f.0)?)))).filter(|p| p.2.is_finite()).collect();
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for p in series.iter().flat_map(|s| &s.1) {
        let sd = if p.sd.is_finite() { p.sd } else { 0.0 };
        lo = lo.min(p.d - sd);
        hi = hi.max(p.d + sd);
    }
    for (_, _, d) in &user {
        (lo, hi) = (lo.min(*d), hi.max(*d));
    }
    let pad = ((hi - lo) * 0.1).max(0.5);
    let (lo, hi) = (lo - pad, hi + pad);
    let y_of = |v: f64| H - PAD_B - (v - lo) / (hi - lo) * (H - PAD_T - PAD_B);
    let step = nice_step((hi - lo) / 5.0);
    let ticks: Vec<f64> = ((lo / step).ceil() as i64..=(hi / step).floor() as i64).map(|k| k as f64 * step).collect();
    let mid_y = (PAD_T + H - PAD_B) / 2.0;
    // Series a little apart, so their whiskers (and the user's marks) do not overlap.
    let dx_of = |k: usize| (k as f64 - (figs.len() as f64 - 1.0) / 2.0) * 7.0;
    html! {
        <svg class="chart change" viewBox={format!("0 0 {W} {H}")} role="img" aria-label={aria}>
            <g class="axes">
                <line x1={PAD_L.to_string()} y1={(H - PAD_B).to_string()} x2={(W - PAD_R).to_string()} y2={(H - PAD_B).to_string()} />
                <line x1={PAD_L.to_string()} y1={PAD_T.to_string()} x2={PAD_L.to_string()} y2={(H - PAD_B).to_string()} />
                { for alpha_ticks(series.iter().flat_map(|s| s.1.iter().map(|p| p.alpha))).iter().map(|a| html! {
                    <text x={x_of(*a).to_string()} y={(H - PAD_B + 16.0).to_string()} text-anchor="middle">{ format!("{a}") }</text>
                }) }
                <text x={((PAD_L + W - PAD_R) / 2.0).to_string()} y={(H - 6.0).to_string()} text-anchor="middle">{ "alpha = share of monolingual batches" }</text>
                { for ticks.iter().map(|t| html! {
                    <g>
                        <line class="grid" x1={PAD_L.to_string()} x2={(W - PAD_R).to_string()} y1={y_of(*t).to_string()} y2={y_of(*t).to_string()} />
                        <text x={(PAD_L - 6.0).to_string()} y={(y_of(*t) + 4.0).to_string()} text-anchor="end">{ format!("{t:+}") }</text>
                    </g>
                }) }
                <line class="zero" x1={PAD_L.to_string()} x2={(W - PAD_R).to_string()} y1={y_of(0.0).to_string()} y2={y_of(0.0).to_string()}>
                    <title>{ "0 = the base model (no fine-tuning)" }</title>
                </line>
                <text x="14" y={mid_y.to_string()} transform={format!("rotate(-90 14 {mid_y})")} text-anchor="middle">{ y_label }</text>
            </g>
            { for series.iter().enumerate().map(|(k, (f, pts))| {
                let dx = dx_of(k);
                let path = pts.iter().map(|p| format!("{:.1},{:.1}", x_of(p.alpha) + dx, y_of(p.d))).collect::<Vec<_>>().join(" ");
                let last_y = pts.last().map(|p| y_of(p.d)).unwrap_or(0.0);
                html! {
                    <g class="series">
                        <polyline points={path} fill="none" stroke={f.2} stroke-width="2" />
                        { for pts.iter().map(|p| point_mark(f, p, x_of(p.alpha) + dx, &y_of)) }
                        <text x={(W - PAD_R + 8.0).to_string()} y={(last_y + 4.0).to_string()} fill={f.2}>{ f.1 }</text>
                    </g>
                }
            }) }
            { for user.iter().map(|(f, m, d)| {
                let k = figs.iter().position(|g| g.0 == f.0).unwrap_or(0);
                user_mark(f, m, *d, x_of(m.alpha) + dx_of(k), y_of(*d))
            }) }
        </svg>
    }
}

/// A diamond for the user's checkpoint, with its numbers in the tooltip.
fn user_mark(f: &Fig, m: &UserMark, d: f64, x: f64, y: f64) -> Html {
    let tip = format!("{} (alpha {}): {} {d:+.2} vs base, on {} questions (the base's reference on the same questions)", m.label, m.alpha, f.1, m.questions);
    let points = format!("{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}", x, y - 8.0, x + 8.0, y, x, y + 8.0, x - 8.0, y);
    html! {
        <polygon class="user" data-change={format!("{d}")} points={points} fill="#ffd23f" stroke={f.2} stroke-width="2"><title>{ tip }</title></polygon>
    }
}

fn point_mark(f: &Fig, p: &Pt, x: f64, y_of: &dyn Fn(f64) -> f64) -> Html {
    let excl = p.excludes_zero();
    let ci = p.sig.map(|(e, l, h)| {
        format!("; seed-aware paired 95% CI vs base {:+.2} [{:+.2}, {:+.2}], {} 0", f.3 * e, f.3 * l, f.3 * h, if excl { "excludes" } else { "includes" })
    });
    let tip = format!("alpha {}: {} {:+.2} vs base (seed sd {:.2}){}", p.alpha, f.1, p.d, p.sd, ci.unwrap_or_default());
    let sd = if p.sd.is_finite() { p.sd } else { 0.0 };
    html! {
        <g>
            <line class="whisker" stroke={f.2} x1={x.to_string()} x2={x.to_string()} y1={y_of(p.d - sd).to_string()} y2={y_of(p.d + sd).to_string()} />
            <circle class={if excl { "sig" } else { "nonsig" }} data-alpha={p.alpha.to_string()} data-fig={f.0} cx={x.to_string()} cy={y_of(p.d).to_string()} r="5"
                fill={if excl { f.2 } else { "white" }} stroke={f.2} stroke-width="2"><title>{ tip }</title></circle>
        </g>
    }
}

/// The study's paired differences between alphas (not against the base) as a small table.
fn contrast_table(st: &Value, figs: &[Fig]) -> Html {
    let rows: Vec<&Value> = st["contrasts"].as_array().into_iter().flatten().filter(|c| c["b"] != "base").collect();
    if rows.is_empty() {
        return html! {};
    }
    let cell = |c: &Value, f: &Fig| -> Html {
        let v = &c["figures"][f.0];
        match (v["estimate"].as_f64(), v["lo"].as_f64(), v["hi"].as_f64()) {
            (Some(e), Some(l), Some(h)) => {
                let excl = l > 0.0 || h < 0.0;
                let text = format!("{:+.2} [{:+.2}, {:+.2}]{}", f.3 * e, f.3 * l, f.3 * h, if excl { " *" } else { "" });
                html! { <td class={if excl { "sig" } else { "" }}>{ text }</td> }
            }
            _ => html! { <td>{ "-" }</td> },
        }
    };
    html! {
        <table class="contrasts" data-testid="contrasts">
            <tr><th>{ "paired difference, seed-aware (95% CI; * excludes 0)" }</th>{ for figs.iter().map(|f| html! { <th>{ f.1 }</th> }) }</tr>
            { for rows.iter().map(|c| html! {
                <tr>
                    <td>{ format!("alpha {} \u{2212} alpha {}", c["a"].as_str().unwrap_or("?"), c["b"].as_str().unwrap_or("?")) }</td>
                    { for figs.iter().map(|f| cell(c, f)) }
                </tr>
            }) }
        </table>
    }
}

const MAP_FIGS: [Fig; 3] =
    [Fig("mono_map", "Mo. mAP", "#2a7ab0", 100.0), Fig("cross_map", "Cr. mAP", "#d9822b", 100.0), Fig("multi_map", "Mul. mAP", "#3a9b5c", 100.0)];

/// Mo./Cr./Mul. mAP vs alpha: from the study (change vs base, seed spread, significance) when
/// the bundle has it, else each checkpoint's mAP with its 95% bootstrap interval.
pub fn map_vs_alpha(results: &Value, task: &str, marks: &[UserMark]) -> Html {
    if let Some(st) = study_task(results, task) {
        let figs: Vec<Fig> =
            MAP_FIGS.iter().filter(|f| st["alphas"][0]["mean"][f.0].as_f64().is_some()).map(|f| Fig(f.0, f.1, f.2, f.3)).collect();
        return html! {
            <>
                { change_chart(st, &figs, marks, "change vs base (mAP x100)", format!("change in mAP versus the base model, by alpha, on {task}")) }
                { contrast_table(st, &figs) }
            </>
        };
    }
    per_checkpoint_map(results, task)
}

/// Mean language bias (max - min best rank across languages; lower is better) vs alpha: from
/// the study (change vs base with seed spread, the fitted slope) when the bundle has it.
pub fn bias_vs_alpha(results: &Value, task: &str, marks: &[UserMark]) -> Html {
    if let Some(st) = study_task(results, task) {
        let figs = [Fig("bias", "bias (ranks)", "#7a4fb0", 1.0), Fig("own_top", "own-lang. top x100", "#b04f7a", 100.0)];
        let t = &st["trends"]["bias"];
        let trend = match (t["estimate"].as_f64(), t["lo"].as_f64(), t["hi"].as_f64()) {
            (Some(e), Some(l), Some(h)) => format!(
                "Least-squares slope of bias over alpha: {e:+.0} ranks per unit alpha, 95% CI [{l:+.0}, {h:+.0}] ({} 0).",
                if l > 0.0 || h < 0.0 { "excludes" } else { "includes" }
            ),
            _ => String::new(),
        };
        // Two charts: ranks and shares do not share an axis.
        return html! {
            <>
                { change_chart(st, &figs[..1], marks, "change vs base (ranks)", format!("change in language bias versus the base model, by alpha, on {task}")) }
                { change_chart(st, &figs[1..], marks, "change vs base (x100)", format!("change in the own-language top share versus the base model, by alpha, on {task}")) }
                <p class="muted" data-testid="trend">{ trend }</p>
                { contrast_table(st, &figs) }
            </>
        };
    }
    per_checkpoint_bias(results, task)
}

/// Mo./Cr./Mul. mAP vs alpha, 95% bootstrap intervals as bars, the base model dashed (bundles
/// without the study).
fn per_checkpoint_map(results: &Value, task: &str) -> Html {
    let (points, base) = series(results, task);
    if points.is_empty() {
        return html! { <p class="muted">{ format!("No trained checkpoints evaluated on {task} yet.") }</p> };
    }
    let settings = [("mono", "Mo.", "#2a7ab0"), ("cross", "Cr.", "#d9822b"), ("multi", "Mul.", "#3a9b5c")];
    let y_max = 1.0;
    let y_of = |v: f64| H - PAD_B - v / y_max * (H - PAD_T - PAD_B);
    let lines = settings.iter().map(|(key, label, color)| {
        // (alpha, mAP, its 95% interval)
        type Point = (f64, f64, Option<(f64, f64)>);
        let pts: Vec<Point> = points
            .iter()
            .filter_map(|(a, t)| {
                let m = t["macro"][*key]["map"].as_f64()?;
                let ci = t["macro"][format!("{key}_map_ci95")].as_array().and_then(|c| Some((c.first()?.as_f64()?, c.get(1)?.as_f64()?)));
                Some((*a, m, ci))
            })
            .collect();
        let path = pts.iter().map(|(a, m, _)| format!("{:.1},{:.1}", x_of(*a), y_of(*m))).collect::<Vec<_>>().join(" ");
        let base_line = base.and_then(|b| b["macro"][*key]["map"].as_f64()).map(|m| html! {
            <line class="base" stroke={*color} x1={PAD_L.to_string()} x2={(W - PAD_R).to_string()} y1={y_of(m).to_string()} y2={y_of(m).to_string()}>
                <title>{ format!("base model, {label} mAP {:.1}", 100.0 * m) }</title>
            </line>
        });
        let last_y = pts.last().map(|p| y_of(p.1)).unwrap_or(0.0);
        html! {
            <g class="series">
                { base_line.unwrap_or_default() }
                <polyline points={path} fill="none" stroke={*color} stroke-width="2" />
                { for pts.iter().map(|(a, m, ci)| {
                    let tip = match ci {
                        Some((lo, hi)) => format!("alpha {a}: {label} mAP {:.1} (95% CI {:.1}-{:.1})", 100.0 * m, 100.0 * lo, 100.0 * hi),
                        None => format!("alpha {a}: {label} mAP {:.1}", 100.0 * m),
                    };
                    html! {
                        <g>
                            { ci.map(|(lo, hi)| html! { <line stroke={*color} x1={x_of(*a).to_string()} x2={x_of(*a).to_string()} y1={y_of(lo).to_string()} y2={y_of(hi).to_string()} /> }).unwrap_or_default() }
                            <circle cx={x_of(*a).to_string()} cy={y_of(*m).to_string()} r="5" fill={*color}><title>{ tip }</title></circle>
                        </g>
                    }
                }) }
                <text x={(W - PAD_R + 8.0).to_string()} y={(last_y + 4.0).to_string()} fill={*color}>{ format!("{label} mAP") }</text>
            </g>
        }
    });
    html! {
        <svg class="chart" viewBox={format!("0 0 {W} {H}")} role="img" aria-label={format!("mAP versus alpha on {task}")}>
            { axes(&alpha_ticks(points.iter().map(|p| p.0)), y_max, "mAP x100", &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0], |v| format!("{:.0}", 100.0 * v)) }
            { for lines }
        </svg>
    }
}

/// Mean language bias per checkpoint vs alpha (bundles without the study).
fn per_checkpoint_bias(results: &Value, task: &str) -> Html {
    let (points, base) = series(results, task);
    let vals: Vec<(f64, f64)> = points.iter().filter_map(|(a, t)| Some((*a, t["bias"]["mean"].as_f64()?))).collect();
    if vals.is_empty() {
        return html! {};
    }
    let base_v = base.and_then(|b| b["bias"]["mean"].as_f64());
    let top = vals.iter().map(|v| v.1).chain(base_v).fold(1.0f64, f64::max) * 1.1;
    let y_of = |v: f64| H - PAD_B - v / top * (H - PAD_T - PAD_B);
    let step = nice_step(top / 5.0);
    let ticks: Vec<f64> = (0..6).map(|i| i as f64 * step).filter(|t| *t <= top).collect();
    let path = vals.iter().map(|(a, v)| format!("{:.1},{:.1}", x_of(*a), y_of(*v))).collect::<Vec<_>>().join(" ");
    html! {
        <svg class="chart" viewBox={format!("0 0 {W} {H}")} role="img" aria-label={format!("language bias versus alpha on {task}")}>
            { axes(&alpha_ticks(points.iter().map(|p| p.0)), top, "bias (ranks)", &ticks, |v| format!("{v:.0}")) }
            { base_v.map(|b| html! {
                <line class="base" stroke="#7a4fb0" x1={PAD_L.to_string()} x2={(W - PAD_R).to_string()} y1={y_of(b).to_string()} y2={y_of(b).to_string()}>
                    <title>{ format!("base model: bias {b:.1}") }</title>
                </line>
            }).unwrap_or_default() }
            <polyline points={path} fill="none" stroke="#7a4fb0" stroke-width="2" />
            { for vals.iter().map(|(a, v)| html! {
                <circle cx={x_of(*a).to_string()} cy={y_of(*v).to_string()} r="5" fill="#7a4fb0"><title>{ format!("alpha {a}: bias {v:.1}") }</title></circle>
            }) }
            <text x={(W - PAD_R + 8.0).to_string()} y={(PAD_T + 10.0).to_string()} fill="#7a4fb0">{ "bias" }</text>
        </svg>
    }
}

fn nice_step(raw: f64) -> f64 {
    let mag = 10f64.powf(raw.max(1e-9).log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag)
}

/// A model's report of one task in the sweep results.
fn task_report<'a>(results: &'a Value, model: &str, task: &str) -> Option<&'a Value> {
    let entry = results["entries"].as_array()?.iter().find(|e| e["name"] == model)?;
    entry["report"]["tasks"].as_array()?.iter().find(|t| t["task"] == task)
}

/// Query language (rows) x pool language (columns) mAP of one model; the diagonal is mono.
/// `delta`: its change versus the base model instead, on a red-white-blue scale.
pub fn pair_heatmap(results: &Value, model: &str, task: &str, delta: bool) -> Html {
    let Some(t) = task_report(results, model, task) else {
        return html! { <p class="muted">{ format!("{model} was not evaluated on {task}") }</p> };
    };
    if delta && model == "base" {
        return html! { <p class="muted">{ "Pick a fine-tuned checkpoint to see its change versus the base model." }</p> };
    }
    let base = match (delta, task_report(results, "base", task)) {
        (false, _) => None,
        (true, Some(b)) => Some(b),
        (true, None) => return html! { <p class="muted">{ format!("the base model was not evaluated on {task}") }</p> },
    };
    let mut langs: Vec<String> = t["mono"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    if let Some(c) = t["cross"].as_object() {
        for (x, ys) in c {
            langs.push(x.clone());
            langs.extend(ys.as_object().into_iter().flat_map(|y| y.keys().cloned()));
        }
    }
    langs.sort();
    langs.dedup();
    let map_of = |t: &Value, x: &str, y: &str| -> Option<f64> {
        if x == y {
            t["mono"][x]["map"].as_f64()
        } else {
            t["cross"][x][y]["map"].as_f64()
        }
    };
    let value = |x: &str, y: &str| -> Option<f64> {
        let v = map_of(t, x, y)?;
        match base {
            Some(b) => Some(v - map_of(b, x, y)?),
            None => Some(v),
        }
    };
    // Changes: a scale symmetric around 0 up to the largest change (at least 1 point).
    let span = if delta {
        langs.iter().flat_map(|x| langs.iter().filter_map(move |y| value(x, y))).fold(0.01f64, |m, v| m.max(v.abs()))
    } else {
        1.0
    };
    let fill_of = |v: f64| if delta { diverging(v / span) } else { color(v) };
    let cell = 26.0;
    let left = 52.0;
    let topm = 40.0;
    let n = langs.len() as f64;
    let width = (left + n * cell + 10.0).max(left + 230.0);
    let legend_y = topm + n * cell + 14.0;
    let height = legend_y + 34.0;
    html! {
        <svg class={classes!("heatmap", delta.then_some("delta"))} viewBox={format!("0 0 {width} {height}")} role="img"
            aria-label={format!("pair heat-map of {model} on {task}{}", if delta { ", change versus the base model" } else { "" })}>
            <text x="2" y="12" class="muted">{ "query \u{2193} / pool \u{2192}" }</text>
            { for langs.iter().enumerate().map(|(j, y)| html! {
                <text x={(left + j as f64 * cell + cell / 2.0).to_string()} y={(topm - 6.0).to_string()} text-anchor="middle" class="tick">{ y.clone() }</text>
            }) }
            { for langs.iter().enumerate().map(|(i, x)| html! {
                <g>
                    <text x={(left - 6.0).to_string()} y={(topm + i as f64 * cell + cell / 2.0 + 4.0).to_string()} text-anchor="end" class="tick">{ x.clone() }</text>
                    { for langs.iter().enumerate().map(|(j, y)| {
                        let v = value(x, y);
                        let fill = v.map(fill_of).unwrap_or_else(|| "#eee".into());
                        let what = if delta { "mAP change vs base" } else { "mAP" };
                        let tip = match v {
                            Some(v) if x == y => format!("{x} monolingual: {what} {:.1}", 100.0 * v),
                            Some(v) => format!("{x} query -> {y} pool: {what} {:.1}", 100.0 * v),
                            None => format!("{x} -> {y}: not evaluated"),
                        };
                        html! {
                            <rect x={(left + j as f64 * cell).to_string()} y={(topm + i as f64 * cell).to_string()} width={(cell - 1.0).to_string()} height={(cell - 1.0).to_string()} fill={fill}>
                                <title>{ tip }</title>
                            </rect>
                        }
                    }) }
                </g>
            }) }
            // Colour key in 11 steps: mAP 0 to 100, or the change from -span to +span.
            <text x={(left - 6.0).to_string()} y={(legend_y + 11.0).to_string()} text-anchor="end" class="tick">{ if delta { "\u{394}mAP" } else { "mAP" } }</text>
            { for (0..=10).map(|k| {
                let v = if delta { (k as f64 - 5.0) / 5.0 * span } else { k as f64 / 10.0 };
                html! {
                    <rect x={(left + k as f64 * 20.0).to_string()} y={legend_y.to_string()} width="19" height="14" fill={fill_of(v)} stroke="#ccc" stroke-width="0.5">
                        <title>{ format!("{} {:.1}", if delta { "change" } else { "mAP" }, 100.0 * v) }</title>
                    </rect>
                }
            }) }
            { for [0usize, 5, 10].iter().map(|&k| {
                let label = if delta { format!("{:+.1}", 100.0 * (k as f64 - 5.0) / 5.0 * span) } else { (k * 10).to_string() };
                html! { <text x={(left + k as f64 * 20.0 + 9.5).to_string()} y={(legend_y + 28.0).to_string()} text-anchor="middle" class="tick">{ label }</text> }
            }) }
        </svg>
    }
}

/// Red (-1) through white (0) to dark blue (+1).
fn diverging(v: f64) -> String {
    let v = v.clamp(-1.0, 1.0);
    if v >= 0.0 {
        return color(v);
    }
    let a = -v;
    format!("rgb({},{},{})", (255.0 - a * 55.0) as u8, (255.0 - a * 200.0) as u8, (255.0 - a * 200.0) as u8)
}

/// White (0) to dark blue (1).
fn color(v: f64) -> String {
    let v = v.clamp(0.0, 1.0);
    let r = (255.0 - v * 225.0) as u8;
    let g = (255.0 - v * 170.0) as u8;
    let b = (255.0 - v * 95.0) as u8;
    format!("rgb({r},{g},{b})")
}
