//! Learning curves at a fixed training budget: the study of each snapshot step of a block
//! trained without early stopping (`sweep --snapshots ... --patience 0`, results in
//! `<results>/step-N/`), side by side, and at each step the direction of every alpha
//! difference held against the same difference in a reference grid (the main study).
//!
//! The question it answers: is the main grid's alpha ordering an artefact of early stopping,
//! which gives high-alpha runs more updates? If the differences point the same way at equal
//! steps, it is not.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Interval, Study, StudyError, TaskStudy};

/// The snapshot folders of a block's results (`DIR/step-N/` holding the base's report), by step.
pub fn step_folders(dir: &Path) -> Result<Vec<(usize, PathBuf)>, StudyError> {
    let entries = std::fs::read_dir(dir).map_err(|source| StudyError::Io { path: dir.display().to_string(), source })?;
    let mut steps: Vec<(usize, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let step = e.file_name().to_str()?.strip_prefix("step-")?.parse().ok()?;
            e.path().join("base/report.json").is_file().then(|| (step, e.path()))
        })
        .collect();
    steps.sort();
    Ok(steps)
}

/// Version of `curve.json`.
pub const CURVE_VERSION: u32 = 1;

/// The figures a curve follows (names of [`super::FIGURES`]).
pub const CURVE_FIGURES: [&str; 4] = ["mono_map", "cross_map", "multi_map", "bias"];

/// Whether a smaller value of `figure` is the better one.
pub fn lower_is_better(figure: &str) -> bool {
    matches!(figure, "bias" | "pair_std")
}

#[derive(Debug, Clone, Serialize)]
pub struct Curve {
    pub schema: &'static str,
    pub version: u32,
    pub steps: Vec<usize>,
    /// Models of the reference study (empty without one).
    pub reference_models: Vec<String>,
    pub tasks: Vec<TaskCurve>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskCurve {
    pub task: String,
    /// Alphas present at every step.
    pub alphas: Vec<f64>,
    pub base: Option<BTreeMap<String, f64>>,
    pub points: Vec<CurvePoint>,
}

/// One step: seed means and sds per alpha (order of [`TaskCurve::alphas`]), the alphas from
/// best to worst per figure, and every pair's difference with the reference's.
#[derive(Debug, Clone, Serialize)]
pub struct CurvePoint {
    pub step: usize,
    pub seeds: Vec<usize>,
    pub mean: Vec<BTreeMap<String, f64>>,
    pub sd: Vec<BTreeMap<String, f64>>,
    pub order: BTreeMap<String, Vec<f64>>,
    pub pairs: Vec<PairAtStep>,
}

/// `figure(a) - figure(b)` at one step (seed-aware interval) and in the reference grid.
#[derive(Debug, Clone, Serialize)]
pub struct PairAtStep {
    pub a: String,
    pub b: String,
    pub figure: String,
    pub here: Interval,
    pub reference: Option<Interval>,
    pub agreement: Agreement,
}

/// How a difference at one step relates to the reference's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Agreement {
    /// Both intervals exclude 0, on the same side.
    Same,
    /// Both intervals exclude 0, on opposite sides: the ordering changes at equal steps.
    Opposite,
    /// One of the two intervals contains 0.
    Unresolved,
    /// The reference has no such difference.
    NoReference,
}

fn side(i: &Interval) -> i8 {
    if i.lo > 0.0 {
        1
    } else if i.hi < 0.0 {
        -1
    } else {
        0
    }
}

/// The rule that decides [`Agreement`]: only differences resolved in both count either way.
pub fn agreement(here: &Interval, reference: Option<&Interval>) -> Agreement {
    let Some(r) = reference else { return Agreement::NoReference };
    match (side(here), side(r)) {
        (0, _) | (_, 0) => Agreement::Unresolved,
        (a, b) if a == b => Agreement::Same,
        _ => Agreement::Opposite,
    }
}

/// `figure(a) - figure(b)` from a task's contrasts, whichever order they were computed in.
fn difference(task: &TaskStudy, a: &str, b: &str, figure: &str) -> Option<Interval> {
    task.contrasts.iter().find_map(|c| {
        let i = c.figures.get(figure)?;
        if c.a == a && c.b == b {
            Some(*i)
        } else if c.a == b && c.b == a {
            Some(Interval { estimate: -i.estimate, lo: -i.hi, hi: -i.lo, p: i.p })
        } else {
            None
        }
    })
}

fn alpha_name(alpha: f64) -> String {
    alpha.to_string()
}

/// The curve of `steps` (each step's study of its `step-N` folder), against `reference`.
pub fn curve(steps: &[(usize, Study)], reference: Option<&Study>) -> Curve {
    let mut task_names: Vec<&str> = steps.iter().flat_map(|(_, s)| s.tasks.iter().map(|t| t.task.as_str())).collect();
    task_names.sort();
    task_names.dedup();
    let tasks = task_names.into_iter().map(|name| task_curve(name, steps, reference)).collect();
    Curve {
        schema: "hybrid-ir/curve",
        version: CURVE_VERSION,
        steps: steps.iter().map(|(s, _)| *s).collect(),
        reference_models: reference.map(|r| r.models.clone()).unwrap_or_default(),
        tasks,
    }
}

fn task_curve(name: &str, steps: &[(usize, Study)], reference: Option<&Study>) -> TaskCurve {
    let at = |s: &Study| s.tasks.iter().find(|t| t.task == name).cloned();
    let per_step: Vec<(usize, Option<TaskStudy>)> = steps.iter().map(|(n, s)| (*n, at(s))).collect();
    let mut alphas: Vec<f64> = per_step.iter().flat_map(|(_, t)| t.iter().flat_map(|t| t.alphas.iter().map(|a| a.alpha))).collect();
    alphas.sort_by(f64::total_cmp);
    alphas.dedup();
    alphas.retain(|&a| per_step.iter().all(|(_, t)| t.as_ref().is_some_and(|t| t.alphas.iter().any(|s| s.alpha == a))));
    let reference_task = reference.and_then(|r| r.tasks.iter().find(|t| t.task == name));
    let base = per_step.iter().find_map(|(_, t)| t.as_ref()?.base.clone()).map(|b| pick(&b));
    let points = per_step
        .iter()
        .filter_map(|(step, t)| Some(point(*step, t.as_ref()?, &alphas, reference_task)))
        .collect();
    TaskCurve { task: name.to_string(), alphas, base, points }
}

fn pick(m: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    CURVE_FIGURES.iter().filter_map(|f| Some((f.to_string(), *m.get(*f)?))).collect()
}

fn point(step: usize, task: &TaskStudy, alphas: &[f64], reference: Option<&TaskStudy>) -> CurvePoint {
    let summaries: Vec<_> = alphas.iter().filter_map(|&a| task.alphas.iter().find(|s| s.alpha == a)).collect();
    let mean: Vec<_> = summaries.iter().map(|s| pick(&s.mean)).collect();
    let order = CURVE_FIGURES
        .iter()
        .map(|&f| {
            let mut by: Vec<(f64, f64)> = alphas.iter().zip(&mean).map(|(&a, m)| (a, m.get(f).copied().unwrap_or(f64::NAN))).collect();
            by.sort_by(|x, y| if lower_is_better(f) { x.1.total_cmp(&y.1) } else { y.1.total_cmp(&x.1) });
            (f.to_string(), by.into_iter().map(|(a, _)| a).collect())
        })
        .collect();
    let mut pairs = Vec::new();
    for (i, &a) in alphas.iter().enumerate() {
        for &b in &alphas[..i] {
            let (a, b) = (alpha_name(a), alpha_name(b));
            for f in CURVE_FIGURES {
                let Some(here) = difference(task, &a, &b, f) else { continue };
                let reference = reference.and_then(|r| difference(r, &a, &b, f));
                let agreement = agreement(&here, reference.as_ref());
                pairs.push(PairAtStep { a: a.clone(), b: b.clone(), figure: f.to_string(), here, reference, agreement });
            }
        }
    }
    CurvePoint {
        step,
        seeds: summaries.iter().map(|s| s.seeds.len()).collect(),
        mean,
        sd: summaries.iter().map(|s| pick(&s.sd)).collect(),
        order,
        pairs,
    }
}

fn scaled(figure: &str, v: f64) -> f64 {
    if figure == "bias" {
        v
    } else {
        100.0 * v
    }
}

fn label(figure: &str) -> &'static str {
    match figure {
        "mono_map" => "Mo.",
        "cross_map" => "Cr.",
        "multi_map" => "Mul.",
        _ => "bias",
    }
}

/// The curve as markdown: per task, the seed means per step and alpha, then how every
/// difference at each step compares with the reference grid, and a count of the agreements.
pub fn curve_markdown(c: &Curve) -> String {
    let mut out = String::new();
    for t in &c.tasks {
        out += &format!("\n#### {}: seed means per step (mAP x 100; bias in ranks)\n\n", t.task);
        out += "| step |";
        for a in &t.alphas {
            for f in CURVE_FIGURES {
                out += &format!(" alpha {a} {} |", label(f));
            }
        }
        out += "\n|---|";
        out += &"---:|".repeat(t.alphas.len() * CURVE_FIGURES.len());
        out.push('\n');
        if let Some(b) = &t.base {
            out += "| base |";
            for _ in &t.alphas {
                for f in CURVE_FIGURES {
                    out += &format!(" {:.2} |", scaled(f, b.get(f).copied().unwrap_or(f64::NAN)));
                }
            }
            out.push('\n');
        }
        for p in &t.points {
            out += &format!("| {} |", p.step);
            for (m, sd) in p.mean.iter().zip(&p.sd) {
                for f in CURVE_FIGURES {
                    let (v, s) = (m.get(f).copied().unwrap_or(f64::NAN), sd.get(f).copied().unwrap_or(f64::NAN));
                    out += &format!(" {:.2} ± {:.2} |", scaled(f, v), scaled(f, s));
                }
            }
            out.push('\n');
        }
        if c.reference_models.is_empty() {
            continue;
        }
        out += &format!("\n{}: each difference at each step (seed-aware 95% interval) against the reference grid's\n\n", t.task);
        out += "| difference | reference |";
        for p in &t.points {
            out += &format!(" step {} |", p.step);
        }
        out += "\n|---|---:|";
        out += &"---|".repeat(t.points.len());
        out.push('\n');
        let Some(first) = t.points.first() else { continue };
        for (k, pair) in first.pairs.iter().enumerate() {
            let f = pair.figure.as_str();
            let fmt = |i: &Interval| format!("{:+.2} [{:+.2}, {:+.2}]", scaled(f, i.estimate), scaled(f, i.lo), scaled(f, i.hi));
            out += &format!("| {} {} - {} | {} |", label(f), pair.a, pair.b, pair.reference.as_ref().map(fmt).unwrap_or_else(|| "n/a".into()));
            for p in &t.points {
                match p.pairs.get(k) {
                    Some(q) => out += &format!(" {} {} |", fmt(&q.here), mark(q.agreement)),
                    None => out += " |",
                }
            }
            out.push('\n');
        }
        let count = |g: Agreement| t.points.iter().flat_map(|p| &p.pairs).filter(|q| q.agreement == g).count();
        out += &format!(
            "\n{}: {} differences resolved the same way as the reference, {} the opposite way, {} unresolved at a step or in the reference.\n",
            t.task,
            count(Agreement::Same),
            count(Agreement::Opposite),
            count(Agreement::Unresolved)
        );
    }
    out
}

fn mark(a: Agreement) -> &'static str {
    match a {
        Agreement::Same => "(same)",
        Agreement::Opposite => "(**opposite**)",
        Agreement::Unresolved => "(open)",
        Agreement::NoReference => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(lo: f64, hi: f64) -> Interval {
        Interval { estimate: (lo + hi) / 2.0, lo, hi, p: f64::NAN }
    }

    /// The rule must be able to say "opposite": a difference resolved one way at a step and
    /// the other way in the reference; and an interval touching 0 on either side decides nothing.
    #[test]
    fn agreement_needs_both_resolved_and_can_fail() {
        assert_eq!(agreement(&iv(0.01, 0.03), Some(&iv(0.02, 0.05))), Agreement::Same);
        assert_eq!(agreement(&iv(-0.03, -0.01), Some(&iv(-0.2, -0.1))), Agreement::Same);
        assert_eq!(agreement(&iv(0.01, 0.03), Some(&iv(-0.05, -0.02))), Agreement::Opposite);
        assert_eq!(agreement(&iv(-0.03, -0.01), Some(&iv(0.02, 0.05))), Agreement::Opposite);
        assert_eq!(agreement(&iv(-0.01, 0.03), Some(&iv(0.02, 0.05))), Agreement::Unresolved);
        assert_eq!(agreement(&iv(0.01, 0.03), Some(&iv(-0.02, 0.05))), Agreement::Unresolved);
        assert_eq!(agreement(&iv(0.01, 0.03), None), Agreement::NoReference);
    }
}
