//! The alpha study: the grid of training runs, the statistics that compare its cells, and the
//! tables and claims written from them. Reads what a sweep wrote (`results/sweep/<model>/`:
//! `report.json` and per-question tables) and writes `results/study/study.json` + markdown.
//!
//! Every comparison between alphas is paired: the seeds of an alpha are averaged per question,
//! then one bootstrap resample of questions is applied to every alpha at once.

pub mod bootstrap;
pub mod claims;
pub mod curve;
pub mod grid;
pub mod stats;
mod tables;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use thiserror::Error;

pub use claims::{claims, Claim, Verdict};
pub use curve::{curve, curve_markdown, step_folders, Curve};
pub use grid::{cells, parse_name, Cell};
pub use bootstrap::Resampling;
pub use stats::{Interval, FIGURES, FIGURE_LABELS};
pub use tables::{changes_markdown, claims_markdown, markdown, summary_markdown, PreviousClaims};

use crate::report::{QuestionTable, Report, SEEN_LANGS};

#[derive(Debug, Error)]
pub enum StudyError {
    #[error("study grid: {0}")]
    Grid(String),
    #[error("study data: {0}")]
    Data(String),
    /// Cells computed by different code: their differences would mix code changes into alpha's.
    #[error("the results mix code versions, so their differences are not alpha's alone:\n{0}\nre-run the sweep (`scripts/sweep` retrains and re-evaluates every stale cell) before the study")]
    Versions(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Version of `study.json`. 2: seed- and cluster-aware headline intervals (`figures`), the
/// fixed-seed ones beside them, p-values, every pair of alphas, early-stopping steps.
pub const STUDY_VERSION: u32 = 2;

/// File of a task's per-question table in a model's results folder.
pub fn questions_file(task: &str) -> String {
    format!("{task}.questions.st.gz")
}

/// One evaluated model: the base (no cell) or a grid cell.
pub struct ModelResult {
    pub name: String,
    pub cell: Option<Cell>,
    pub report: Report,
    pub tables: BTreeMap<String, QuestionTable>,
}

/// Reads `dir/base` and every `dir/alpha-A-seed-S` that holds a `report.json`, with the
/// per-question tables beside it.
pub fn load_results(dir: &Path) -> Result<Vec<ModelResult>, StudyError> {
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |source| StudyError::Io { path, source }
    };
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("report.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n == "base" || parse_name(n).is_some())
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let folder = dir.join(&name);
        let path = folder.join("report.json");
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let report: Report =
            serde_json::from_str(&text).map_err(|e| StudyError::Data(format!("{}: {e}", path.display())))?;
        let mut tables = BTreeMap::new();
        for t in report.tasks.iter().filter(|t| t.labelled) {
            let p = folder.join(questions_file(&t.task));
            let bytes = std::fs::read(&p).map_err(io(&p))?;
            tables.insert(t.task.clone(), QuestionTable::from_bytes(&bytes, &p.display().to_string()).map_err(StudyError::Data)?);
        }
        out.push(ModelResult { cell: parse_name(&name), name, report, tables });
    }
    Ok(out)
}

pub type FigureMap = BTreeMap<String, f64>;

fn figure_map(f: &stats::Figures) -> FigureMap {
    FIGURES.iter().zip(f).map(|(n, v)| (n.to_string(), *v)).collect()
}

/// One alpha over its seeds.
#[derive(Debug, Clone, Serialize)]
pub struct AlphaSummary {
    pub alpha: f64,
    pub seeds: Vec<u64>,
    /// Mean and sample standard deviation over seeds (sd NaN with one seed).
    pub mean: FigureMap,
    pub sd: FigureMap,
    pub per_seed: BTreeMap<String, Vec<f64>>,
    /// Per seed (order of `seeds`): the step of the kept checkpoint (early stopping) and the
    /// steps trained; 0 where the report does not say.
    pub best_step: Vec<usize>,
    pub train_steps: Vec<usize>,
}

/// A paired difference figure(a) - figure(b); `a`/`b` are alphas as text or "base".
#[derive(Debug, Clone, Serialize)]
pub struct Contrast {
    pub a: String,
    pub b: String,
    /// The headline intervals: seeds and clusters (articles) resampled ([`Study::resampling`]).
    pub figures: BTreeMap<String, Interval>,
    /// The same differences with the seeds held fixed (their mean per question) and single
    /// questions resampled: the 3-seed study's scheme, kept to show what training noise adds.
    pub fixed_seeds: BTreeMap<String, Interval>,
    /// Seeds resampled, single questions (not clusters): with `figures`, what clustering adds.
    /// Absent where the task has no clusters (then it equals `figures`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub single_questions: BTreeMap<String, Interval>,
    /// The headline resamples of each figure's difference, for the claims' tests.
    #[serde(skip)]
    pub samples: BTreeMap<String, Vec<f32>>,
}

/// One ordered language pair (cross-lingual cell) across the grid.
#[derive(Debug, Clone, Serialize)]
pub struct PairRow {
    pub query: String,
    pub pool: String,
    pub base: f64,
    /// Seed-mean AP of the cell per alpha (order of `TaskStudy::alphas`), and its seed sd.
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
    /// R@1 of the cell (from the reports): base, then the seed mean per alpha.
    pub r1_base: f64,
    pub r1_mean: Vec<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskStudy {
    pub task: String,
    pub questions: usize,
    pub base: Option<FigureMap>,
    pub alphas: Vec<AlphaSummary>,
    pub contrasts: Vec<Contrast>,
    /// Least-squares slope of each figure over alpha (seed means), per unit alpha.
    pub trends: BTreeMap<String, Interval>,
    pub pairs: Vec<PairRow>,
    /// MKQA: mean cross-lingual AP by training-language group (seen-seen, ...): base, per alpha.
    pub groups: BTreeMap<String, (f64, Vec<f64>)>,
    /// Per query language, from the base model's report: queries with an own-language answer
    /// whose text is also another language's answer, and queries whose top was such a tie
    /// (identical texts share one rank; empty for reports before ties were handled).
    pub shared_answers: BTreeMap<String, usize>,
    pub tied_top_base: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsistencyStudy {
    pub base: Option<f64>,
    /// (alpha, seed values)
    pub alphas: Vec<(f64, Vec<f64>)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Study {
    pub schema: &'static str,
    pub version: u32,
    pub bootstrap: usize,
    pub seed: u64,
    /// How the headline intervals resample (seeds, then clusters of questions).
    pub resampling: Resampling,
    /// Models read, by name.
    pub models: Vec<String>,
    pub tasks: Vec<TaskStudy>,
    pub consistency: Option<ConsistencyStudy>,
}

fn sd(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return f64::NAN;
    }
    let m = xs.iter().sum::<f64>() / xs.len() as f64;
    (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
}

fn alpha_text(a: f64) -> String {
    a.to_string()
}

/// The contrasts the claims need: the alpha nearest 0.5 against both ends, the ends against
/// each other, its neighbours against it, every other pair of alphas, and every alpha against
/// the base.
fn contrast_plan(alphas: &[f64], has_base: bool) -> Vec<(Option<usize>, Option<usize>)> {
    let mut plan = Vec::new();
    if alphas.is_empty() {
        return plan;
    }
    let (lo, hi) = (0, alphas.len() - 1);
    let mid = (0..alphas.len()).min_by(|&a, &b| (alphas[a] - 0.5).abs().total_cmp(&(alphas[b] - 0.5).abs())).unwrap_or(0);
    for (a, b) in [(mid, lo), (mid, hi), (lo, hi)] {
        if a != b && !plan.contains(&(Some(a), Some(b))) && !plan.contains(&(Some(b), Some(a))) {
            plan.push((Some(a), Some(b)));
        }
    }
    for n in [mid.checked_sub(1), Some(mid + 1)].into_iter().flatten() {
        if n < alphas.len() && n != mid && !plan.contains(&(Some(mid), Some(n))) && !plan.contains(&(Some(n), Some(mid))) {
            plan.push((Some(n), Some(mid)));
        }
    }
    // Every other pair, larger alpha first: "best" claims test one alpha against all others.
    for a in 0..alphas.len() {
        for b in 0..a {
            if !plan.contains(&(Some(a), Some(b))) && !plan.contains(&(Some(b), Some(a))) {
                plan.push((Some(a), Some(b)));
            }
        }
    }
    if has_base {
        plan.extend((0..alphas.len()).map(|a| (Some(a), None)));
    }
    plan
}

/// The encoding pipeline a model's report was evaluated with (`config.evaluation.pipeline_version`).
fn evaluation_pipeline(m: &ModelResult) -> Option<u64> {
    m.report.config.pointer("/evaluation/pipeline_version").and_then(|v| v.as_u64())
}

/// The code that trained a cell (`config.code` of its report; unrecorded in reports written
/// before versions were recorded).
fn training_code(m: &ModelResult) -> crate::model::CodeVersions {
    m.report.config.get("code").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default()
}

/// Refuses models evaluated by different encoding pipelines, or cells trained by different
/// training code, naming each version and the models that have it.
pub fn check_versions(models: &[ModelResult]) -> Result<(), StudyError> {
    fn groups<K: Ord + std::fmt::Display>(what: &str, items: impl Iterator<Item = (K, String)>) -> Option<String> {
        let mut by: BTreeMap<K, Vec<String>> = BTreeMap::new();
        for (k, name) in items {
            by.entry(k).or_default().push(name);
        }
        (by.len() > 1).then(|| {
            let lines: Vec<String> = by.iter().map(|(k, names)| format!("  {what} {k}: {}", names.join(", "))).collect();
            lines.join("\n")
        })
    }
    let pipeline = groups(
        "evaluated with pipeline",
        models.iter().map(|m| (evaluation_pipeline(m).map_or("unrecorded".to_string(), |v| format!("v{v}")), m.name.clone())),
    );
    let training = groups("trained by", models.iter().filter(|m| m.cell.is_some()).map(|m| (training_code(m).to_string(), m.name.clone())));
    let problems: Vec<String> = pipeline.into_iter().chain(training).collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(StudyError::Versions(problems.join("\n")))
    }
}

/// Analyses every labelled task found in the models' reports, after [`check_versions`].
pub fn analyse(models: &[ModelResult], bootstrap: usize, seed: u64) -> Result<Study, StudyError> {
    check_versions(models)?;
    let mut alphas: Vec<f64> = models.iter().filter_map(|m| m.cell.map(|c| c.alpha)).collect();
    alphas.sort_by(f64::total_cmp);
    alphas.dedup();
    let base = models.iter().find(|m| m.cell.is_none());
    let mut task_names: Vec<String> = models.iter().flat_map(|m| m.tables.keys().cloned()).collect();
    task_names.sort();
    task_names.dedup();
    let mut tasks = Vec::new();
    for task in &task_names {
        tasks.push(analyse_task(task, models, base, &alphas, bootstrap, seed)?);
    }
    let consistency_of = |m: &ModelResult| m.report.tasks.iter().find(|t| t.task == "mkqa-consistency").and_then(|t| t.consistency);
    let consistency = models.iter().any(|m| consistency_of(m).is_some()).then(|| ConsistencyStudy {
        base: base.and_then(consistency_of),
        alphas: alphas
            .iter()
            .map(|&a| (a, models.iter().filter(|m| m.cell.is_some_and(|c| c.alpha == a)).filter_map(consistency_of).collect()))
            .collect(),
    });
    Ok(Study {
        schema: "hybrid-ir/study",
        version: STUDY_VERSION,
        bootstrap,
        seed,
        resampling: Resampling::full(bootstrap, seed),
        models: models.iter().map(|m| m.name.clone()).collect(),
        tasks,
        consistency,
    })
}

fn analyse_task(
    task: &str,
    models: &[ModelResult],
    base: Option<&ModelResult>,
    alphas: &[f64],
    bootstrap: usize,
    seed: u64,
) -> Result<TaskStudy, StudyError> {
    let base_table = base.and_then(|b| b.tables.get(task));
    let mut summaries = Vec::new();
    let mut means: Vec<QuestionTable> = Vec::new();
    let mut seed_tables: Vec<Vec<&QuestionTable>> = Vec::new();
    let mut used_alphas = Vec::new();
    for &alpha in alphas {
        let runs: Vec<(u64, &QuestionTable)> = models
            .iter()
            .filter_map(|m| Some((m.cell.filter(|c| c.alpha == alpha)?.seed, m.tables.get(task)?)))
            .collect();
        if runs.is_empty() {
            continue;
        }
        let per_seed: Vec<stats::Figures> = runs.iter().map(|(_, t)| stats::figures(t, &vec![1; t.index.questions.len()])).collect();
        let column = |f: usize| per_seed.iter().map(|x| x[f]).collect::<Vec<f64>>();
        let config_of = |seed: u64, key: &str| {
            models
                .iter()
                .find(|m| m.cell.is_some_and(|c| c.alpha == alpha && c.seed == seed))
                .and_then(|m| m.report.config.get(key)?.as_u64())
                .unwrap_or(0) as usize
        };
        summaries.push(AlphaSummary {
            alpha,
            best_step: runs.iter().map(|r| config_of(r.0, "best_step")).collect(),
            train_steps: runs.iter().map(|r| config_of(r.0, "train_steps")).collect(),
            seeds: runs.iter().map(|r| r.0).collect(),
            mean: FIGURES.iter().enumerate().map(|(f, n)| (n.to_string(), column(f).iter().sum::<f64>() / runs.len() as f64)).collect(),
            sd: FIGURES.iter().enumerate().map(|(f, n)| (n.to_string(), sd(&column(f)))).collect(),
            per_seed: FIGURES.iter().enumerate().map(|(f, n)| (n.to_string(), column(f))).collect(),
        });
        means.push(stats::mean_table(&runs.iter().map(|r| r.1).collect::<Vec<_>>())?);
        seed_tables.push(runs.iter().map(|r| r.1).collect::<Vec<_>>());
        used_alphas.push(alpha);
    }
    let questions = means.first().or(base_table).map(|t| t.index.questions.len()).unwrap_or(0);
    // Bootstrap groups: the seeds of each alpha, then the base (one table).
    let mut groups = seed_tables.clone();
    let base_ix = base_table.filter(|b| means.first().is_none_or(|m| m.index == b.index)).map(|b| {
        groups.push(vec![b]);
        groups.len() - 1
    });
    let plan = contrast_plan(&used_alphas, base_ix.is_some());
    let resolve = |x: Option<usize>| x.unwrap_or_else(|| base_ix.expect("planned only with a base"));
    let pairs_ix: Vec<(usize, usize)> = plan.iter().map(|&(a, b)| (resolve(a), resolve(b))).collect();
    let trend: Vec<(usize, f64)> = used_alphas.iter().enumerate().map(|(i, &a)| (i, a)).collect();
    let (contrasts, trends) = if groups.len() >= 2 {
        let run = |seeds: bool, clusters: bool| bootstrap::bootstrap(&groups, &pairs_ix, &trend, &Resampling { samples: bootstrap, seed, seeds, clusters });
        let full = run(true, true)?;
        let fixed = run(false, false)?;
        let clusters = &groups[0][0].index.clusters;
        let has_clusters = !clusters.is_empty() && clusters.iter().collect::<std::collections::BTreeSet<_>>().len() < questions;
        let single = if has_clusters { Some(run(true, false)?) } else { None };
        let name = |x: Option<usize>| x.map(|i| alpha_text(used_alphas[i])).unwrap_or_else(|| "base".into());
        let map = |ivs: &[Interval; 9]| -> BTreeMap<String, Interval> { FIGURES.iter().zip(ivs).map(|(n, v)| (n.to_string(), *v)).collect() };
        let contrasts = plan
            .iter()
            .enumerate()
            .map(|(c, &(a, b))| Contrast {
                a: name(a),
                b: name(b),
                figures: map(&full.contrasts[c]),
                fixed_seeds: map(&fixed.contrasts[c]),
                single_questions: single.as_ref().map(|s| map(&s.contrasts[c])).unwrap_or_default(),
                samples: FIGURES.iter().zip(&full.contrast_samples[c]).map(|(n, v)| (n.to_string(), v.clone())).collect(),
            })
            .collect();
        let trends = if used_alphas.len() >= 2 {
            FIGURES.iter().zip(&full.slopes).map(|(n, v)| (n.to_string(), *v)).collect()
        } else {
            BTreeMap::new()
        };
        (contrasts, trends)
    } else {
        (Vec::new(), BTreeMap::new())
    };
    let reference = means.first().or(base_table);
    let mut pairs = Vec::new();
    let mut groups: BTreeMap<String, (f64, Vec<f64>)> = BTreeMap::new();
    if let Some(reference) = reference {
        let ones = vec![1u32; reference.index.questions.len()];
        let base_cells = base_table.map(|b| stats::cell_means(b, &ones));
        let seed_cells: Vec<Vec<Vec<f64>>> = used_alphas
            .iter()
            .map(|&a| {
                models
                    .iter()
                    .filter(|m| m.cell.is_some_and(|c| c.alpha == a))
                    .filter_map(|m| m.tables.get(task))
                    .map(|t| stats::cell_means(t, &ones))
                    .collect()
            })
            .collect();
        for (ci, (x, y)) in reference.index.cells.iter().enumerate() {
            if x == y {
                continue;
            }
            let per_alpha: Vec<Vec<f64>> = seed_cells.iter().map(|s| s.iter().map(|c| c[ci]).collect()).collect();
            let r1 = |m: &ModelResult| {
                m.report.tasks.iter().find(|t| t.task == task).and_then(|t| t.cross.get(x)?.get(y)).map(|s| s.r1)
            };
            let r1_mean = used_alphas
                .iter()
                .map(|&a| {
                    let v: Vec<f64> = models.iter().filter(|m| m.cell.is_some_and(|c| c.alpha == a)).filter_map(r1).collect();
                    v.iter().sum::<f64>() / v.len().max(1) as f64
                })
                .collect();
            pairs.push(PairRow {
                query: x.clone(),
                pool: y.clone(),
                base: base_cells.as_ref().map(|b| b[ci]).unwrap_or(f64::NAN),
                mean: per_alpha.iter().map(|v| v.iter().sum::<f64>() / v.len().max(1) as f64).collect(),
                sd: per_alpha.iter().map(|v| sd(v)).collect(),
                r1_base: base.and_then(r1).unwrap_or(f64::NAN),
                r1_mean,
            });
        }
        if task == "mkqa" || task == "mkqa-parallel" {
            let seen = |l: &str| if SEEN_LANGS.contains(&l) { "seen" } else { "unseen" };
            let mut acc: BTreeMap<String, (Vec<f64>, Vec<Vec<f64>>)> = BTreeMap::new();
            for p in pairs.iter().filter(|p| p.base.is_finite() || !p.mean.is_empty()) {
                let e = acc.entry(format!("{}-{}", seen(&p.query), seen(&p.pool))).or_insert_with(|| (Vec::new(), vec![Vec::new(); used_alphas.len()]));
                e.0.push(p.base);
                for (a, v) in p.mean.iter().enumerate() {
                    e.1[a].push(*v);
                }
            }
            let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
            groups = acc.into_iter().map(|(k, (b, a))| (k, (avg(&b), a.iter().map(|v| avg(v)).collect()))).collect();
        }
    }
    let base_bias = base.and_then(|b| b.report.tasks.iter().find(|t| t.task == task)).map(|t| &t.bias);
    Ok(TaskStudy {
        shared_answers: base_bias.map(|b| b.shared_answer.clone()).unwrap_or_default(),
        tied_top_base: base_bias.map(|b| b.tied_top.clone()).unwrap_or_default(),
        task: task.to_string(),
        questions,
        base: base_table.map(|t| figure_map(&stats::figures(t, &vec![1; t.index.questions.len()]))),
        alphas: summaries,
        contrasts,
        trends,
        pairs,
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_plan_covers_the_claims() {
        let plan = contrast_plan(&[0.0, 0.25, 0.5, 0.75, 1.0], true);
        for want in [(Some(2), Some(0)), (Some(2), Some(4)), (Some(0), Some(4)), (Some(1), Some(2)), (Some(3), Some(2)), (Some(0), None), (Some(4), None)] {
            assert!(plan.contains(&want), "{want:?} missing from {plan:?}");
        }
        assert_eq!(plan.len(), 10 + 5, "every pair of five alphas once, and each against the base");
        assert_eq!(contrast_plan(&[0.5], false), vec![]);
        assert_eq!(contrast_plan(&[0.0, 1.0], false), vec![(Some(0), Some(1))]);
        // A grid cut short at 0.5: its largest alpha is the hybrid one; no pair twice.
        assert_eq!(contrast_plan(&[0.0, 0.25, 0.5], false), vec![(Some(2), Some(0)), (Some(1), Some(2)), (Some(1), Some(0))]);
    }

    fn model(name: &str, pipeline: u64, code: Option<crate::model::CodeVersions>) -> ModelResult {
        let mut config = serde_json::json!({ "evaluation": { "pipeline_version": pipeline } });
        if let Some(c) = code {
            config["code"] = serde_json::to_value(c).unwrap();
        }
        let report = Report {
            schema: crate::report::REPORT_SCHEMA.into(),
            version: crate::report::REPORT_VERSION,
            crate_version: String::new(),
            git_commit: String::new(),
            created_unix: 0,
            model: crate::report::ModelInfo { source: name.into(), sha256: String::new() },
            config,
            seed: 1,
            tasks: Vec::new(),
        };
        ModelResult { name: name.into(), cell: parse_name(name), report, tables: BTreeMap::new() }
    }

    const V: crate::model::CodeVersions = crate::model::CodeVersions { training: 1, pipeline: 4 };

    #[test]
    fn one_version_everywhere_passes() {
        let models = [model("base", 4, None), model("alpha-0-seed-1", 4, Some(V)), model("alpha-1-seed-1", 4, Some(V))];
        check_versions(&models).unwrap();
    }

    #[test]
    fn a_cell_evaluated_by_another_pipeline_is_refused_by_name() {
        let models = [model("base", 4, None), model("alpha-0-seed-1", 4, Some(V)), model("alpha-1-seed-4", 5, Some(V))];
        let err = check_versions(&models).unwrap_err().to_string();
        assert!(err.contains("pipeline v5: alpha-1-seed-4") && err.contains("v4: base, alpha-0-seed-1"), "{err}");
        assert!(analyse(&models, 10, 1).is_err(), "the analysis refuses too");
    }

    #[test]
    fn cells_of_other_training_code_are_refused_by_name() {
        let bumped = crate::model::CodeVersions { training: 2, ..V };
        let models = [model("alpha-0-seed-1", 4, Some(V)), model("alpha-0-seed-2", 4, Some(bumped)), model("alpha-0-seed-3", 4, None)];
        let err = check_versions(&models).unwrap_err().to_string();
        assert!(err.contains("training v2, pipeline v4: alpha-0-seed-2"), "{err}");
        assert!(err.contains("training v1, pipeline v4: alpha-0-seed-1"), "{err}");
        assert!(err.contains("unrecorded") && err.contains("alpha-0-seed-3"), "{err}");
    }

}
