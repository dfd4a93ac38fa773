//! Robustness plots drawn as SVG from the committed sweep results (`results/sweep/sweep.json`):
//! mAP vs alpha with 95% intervals, the query-language x pool-language heat-map of one model,
//! and language bias vs alpha. Every mark carries a `<title>`, so hovering shows exact numbers.

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

fn axes(y_max: f64, y_label: &str, ticks: &[f64], fmt: impl Fn(f64) -> String) -> Html {
    let y_of = |v: f64| H - PAD_B - v / y_max * (H - PAD_T - PAD_B);
    html! {
        <g class="axes">
            <line x1={PAD_L.to_string()} y1={(H - PAD_B).to_string()} x2={(W - PAD_R).to_string()} y2={(H - PAD_B).to_string()} />
            <line x1={PAD_L.to_string()} y1={PAD_T.to_string()} x2={PAD_L.to_string()} y2={(H - PAD_B).to_string()} />
            { for [0.0, 0.25, 0.5, 0.75, 1.0].iter().map(|a| html! {
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

/// Mo./Cr./Mul. mAP vs alpha, 95% bootstrap intervals as bars, the base model dashed.
pub fn map_vs_alpha(results: &Value, task: &str) -> Html {
    let (points, base) = series(results, task);
    if points.is_empty() {
        return html! { <p class="muted">{ format!("No trained checkpoints evaluated on {task} yet.") }</p> };
    }
    let settings = [("mono", "Mo.", "#2a7ab0"), ("cross", "Cr.", "#d9822b"), ("multi", "Mul.", "#3a9b5c")];
    let y_max = 1.0;
    let y_of = |v: f64| H - PAD_B - v / y_max * (H - PAD_T - PAD_B);
    let lines = settings.iter().map(|(key, label, color)| {
        let pts: Vec<(f64, f64, Option<(f64, f64)>)> = points
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
            { axes(y_max, "mAP x100", &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0], |v| format!("{:.0}", 100.0 * v)) }
            { for lines }
        </svg>
    }
}

/// Mean language bias (max - min best rank across languages; lower is better) vs alpha.
pub fn bias_vs_alpha(results: &Value, task: &str) -> Html {
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
            { axes(top, "bias (ranks)", &ticks, |v| format!("{v:.0}")) }
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

/// Query language (rows) x pool language (columns) mAP of one model; the diagonal is mono.
pub fn pair_heatmap(results: &Value, model: &str, task: &str) -> Html {
    let Some(entry) = results["entries"].as_array().into_iter().flatten().find(|e| e["name"] == model) else {
        return html! { <p class="muted">{ format!("{model} has no results") }</p> };
    };
    let Some(t) = entry["report"]["tasks"].as_array().into_iter().flatten().find(|t| t["task"] == task) else {
        return html! { <p class="muted">{ format!("{model} was not evaluated on {task}") }</p> };
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
    let value = |x: &str, y: &str| -> Option<f64> {
        if x == y {
            t["mono"][x]["map"].as_f64()
        } else {
            t["cross"][x][y]["map"].as_f64()
        }
    };
    let cell = 26.0;
    let left = 52.0;
    let topm = 40.0;
    let n = langs.len() as f64;
    let width = (left + n * cell + 10.0).max(left + 230.0);
    let legend_y = topm + n * cell + 14.0;
    let height = legend_y + 34.0;
    html! {
        <svg class="heatmap" viewBox={format!("0 0 {width} {height}")} role="img" aria-label={format!("pair heat-map of {model} on {task}")}>
            <text x="2" y="12" class="muted">{ "query \u{2193} / pool \u{2192}" }</text>
            { for langs.iter().enumerate().map(|(j, y)| html! {
                <text x={(left + j as f64 * cell + cell / 2.0).to_string()} y={(topm - 6.0).to_string()} text-anchor="middle" class="tick">{ y.clone() }</text>
            }) }
            { for langs.iter().enumerate().map(|(i, x)| html! {
                <g>
                    <text x={(left - 6.0).to_string()} y={(topm + i as f64 * cell + cell / 2.0 + 4.0).to_string()} text-anchor="end" class="tick">{ x.clone() }</text>
                    { for langs.iter().enumerate().map(|(j, y)| {
                        let v = value(x, y);
                        let fill = v.map(color).unwrap_or_else(|| "#eee".into());
                        let tip = match v {
                            Some(v) if x == y => format!("{x} monolingual: mAP {:.1}", 100.0 * v),
                            Some(v) => format!("{x} query -> {y} pool: mAP {:.1}", 100.0 * v),
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
            // Colour key: mAP 0 to 100 in steps of 10.
            <text x={(left - 6.0).to_string()} y={(legend_y + 11.0).to_string()} text-anchor="end" class="tick">{ "mAP" }</text>
            { for (0..=10).map(|k| html! {
                <rect x={(left + k as f64 * 20.0).to_string()} y={legend_y.to_string()} width="19" height="14" fill={color(k as f64 / 10.0)} stroke="#ccc" stroke-width="0.5">
                    <title>{ format!("mAP {}", k * 10) }</title>
                </rect>
            }) }
            { for [0, 50, 100].iter().map(|&k| html! {
                <text x={(left + k as f64 / 10.0 * 20.0 + 9.5).to_string()} y={(legend_y + 28.0).to_string()} text-anchor="middle" class="tick">{ k.to_string() }</text>
            }) }
        </svg>
    }
}

/// White (0) to dark blue (1).
fn color(v: f64) -> String {
    let v = v.clamp(0.0, 1.0);
    let r = (255.0 - v * 225.0) as u8;
    let g = (255.0 - v * 170.0) as u8;
    let b = (255.0 - v * 95.0) as u8;
    format!("rgb({r},{g},{b})")
}
