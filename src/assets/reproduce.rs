//! Reproducing a published figure in the page: what the bundle ships for it (a task's queries
//! against one of its pools, and the reference figures of each model), the documented sample,
//! and the verdict that compares a run with its reference under a stated tolerance.
//!
//! The sample is the task's first [`SAMPLE_QUESTIONS`] questions in task order, every language
//! version of each, against the whole pool: exactly what `hybrid-ir eval --task T
//! --max-questions N` evaluates. Figures come from a [`QuestionTable`] through the study's own
//! [`stats::figures`], so a committed table gives the figures of any sample without re-running.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{FileEntry, PoolTexts};
use crate::report::{evaluate_task, EvalOptions, QuestionTable};
use crate::study::stats;
use crate::tasks::{Candidate, Query, Task, TaskKind};

/// Questions in the documented sample (each in all of its languages).
pub const SAMPLE_QUESTIONS: usize = 25;

/// The figures a reproduction compares, by their names in [`stats::FIGURES`].
pub const REPRODUCED: [&str; 6] = ["mono_map", "cross_map", "multi_map", "multi_r1", "multi_r10", "bias"];

/// How much of a task a run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Size {
    /// The first [`SAMPLE_QUESTIONS`] questions.
    Sample,
    Whole,
}

/// Where the pool's embeddings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The bundle's int8 index of the pool (queries encoded in the browser).
    Shipped,
    /// The pool re-encoded in the browser too (f32).
    Scratch,
}

impl Size {
    pub fn questions(self) -> Option<usize> {
        match self {
            Size::Sample => Some(SAMPLE_QUESTIONS),
            Size::Whole => None,
        }
    }
}

/// Headline figures over a number of questions; figures a run cannot have (no cross-lingual
/// cell) are absent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Figures {
    pub questions: usize,
    pub values: BTreeMap<String, f64>,
}

/// The [`REPRODUCED`] figures of a table over its first `first` questions (None = all).
pub fn figures(t: &QuestionTable, first: Option<usize>) -> Figures {
    let q = t.index.questions.len();
    let n = first.unwrap_or(q).min(q);
    let weights: Vec<u32> = (0..q).map(|i| u32::from(i < n)).collect();
    let all = stats::figures(t, &weights);
    let values = REPRODUCED
        .iter()
        .map(|name| (name.to_string(), all[stats::figure(name)]))
        .filter(|(_, v)| v.is_finite())
        .collect();
    Figures { questions: n, values }
}

/// Ranks and scores a reproduction's task from its embeddings (row-major, L2-normalised) with
/// the evaluation's own code, without the bootstrap (figures only): the page's worker, the
/// native `hybrid-ir reproduce` and the bundle's references all summarise this table.
pub fn score(task: &Task, queries: &[f32], pool: &[f32], dim: usize, device: &burn::tensor::Device) -> Result<QuestionTable, String> {
    let opts = EvalOptions { bootstrap_samples: 0, ..Default::default() };
    Ok(evaluate_task(task, queries, pool, dim, device, &opts, |_| {})?.2)
}

/// A model's reference figures for one size of a task, and where they come from (a committed
/// table, or a native run on a cut bundle).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Reference {
    pub model: String,
    pub size: Size,
    pub figures: Figures,
    pub source: String,
}

/// One query of a task, `relevant` indexing the bundle's pool.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TaskQuery {
    pub qid: String,
    pub lang: String,
    pub text: String,
    pub relevant: Vec<u32>,
}

/// A task the page can reproduce: its queries (a file fetched on first use) against `pool`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReproduceEntry {
    /// Task name as in reports (`xquad-r-heldout`, `mkqa`).
    pub task: String,
    pub pool: String,
    pub title: String,
    pub queries: FileEntry,
    /// Distinct questions and queries of the whole task.
    pub questions: usize,
    pub query_count: usize,
    /// Queries of the sample.
    pub sample_queries: usize,
    pub references: Vec<Reference>,
}

impl ReproduceEntry {
    pub fn reference(&self, model: &str, size: Size) -> Option<&Reference> {
        self.references.iter().find(|r| r.model == model && r.size == size)
    }
}

/// The queries a bundle ships for `task` (relevance already indexes its pool).
pub fn task_queries(task: &Task) -> Vec<TaskQuery> {
    task.queries.iter().map(|q| TaskQuery { qid: q.qid.clone(), lang: q.lang.clone(), text: q.text.clone(), relevant: q.relevant.clone() }).collect()
}

/// The [`Task`] a reproduction evaluates, rebuilt from the bundle's files and cut to `size`.
/// Every index comes from a file, so each is checked: an error, never a panic.
pub fn bundle_task(task: &str, queries: &[TaskQuery], pool: &PoolTexts, size: Size) -> Result<Task, String> {
    let kind = TaskKind::all().into_iter().find(|k| k.name() == task).ok_or_else(|| format!("unknown task {task}"))?;
    let mut seen = std::collections::HashSet::new();
    for q in queries {
        if q.relevant.iter().any(|&r| r as usize >= pool.len()) {
            return Err(format!("{task}: query {}-{} names a candidate outside the pool of {}", q.qid, q.lang, pool.len()));
        }
        // Metrics count each relevant candidate once: a repeat would lift AP above 1.
        if q.relevant.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!("{task}: query {}-{} lists its answers out of order or twice", q.qid, q.lang));
        }
        if !seen.insert((&q.qid, &q.lang)) {
            return Err(format!("{task}: query {}-{} appears twice", q.qid, q.lang));
        }
    }
    let candidates = (0..pool.len()).map(|i| Candidate { id: pool.ids[i].clone(), lang: pool.langs[i].clone(), text: pool.texts[i].clone() }).collect();
    let mut langs: Vec<String> = pool.langs.clone();
    langs.sort();
    langs.dedup();
    let queries = queries
        .iter()
        .map(|q| Query { id: format!("{}-{}", q.qid, q.lang), qid: q.qid.clone(), lang: q.lang.clone(), text: q.text.clone(), relevant: q.relevant.clone() })
        .collect();
    let whole = Task { kind, langs, pool: candidates, queries, labelled: true, pool_is_queries: false, checksums: Vec::new(), clusters: Default::default() };
    Ok(match size.questions() {
        Some(n) => whole.restrict(None, Some(n)),
        None => whole,
    })
}

/// Most a figure may differ from its reference in `mode`: mAP and recall absolutely, bias (a
/// mean of rank spreads, in ranks) relative to the reference.
pub fn tolerance(figure: &str, mode: Mode) -> f64 {
    match (figure, mode) {
        // The int8 pools cost <= 0.005 mAP (`web-assets` checks it on MKQA-R); now and then they
        // swap a query's top answers, and a sample's recall moves in steps of 1/queries (1/300).
        ("bias", Mode::Shipped) => 0.02,
        ("multi_r1" | "multi_r10", Mode::Shipped) => 0.01,
        (_, Mode::Shipped) => 0.005,
        // Same weights, f32 pool: only the order of float sums differs from native.
        ("bias", Mode::Scratch) => 0.002,
        (_, Mode::Scratch) => 0.001,
    }
}

/// One figure of a run next to its reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub figure: String,
    pub measured: f64,
    pub reference: f64,
    /// `measured - reference`.
    pub diff: f64,
    /// The allowed |diff| (absolute, already scaled for relative figures).
    pub allowed: f64,
    pub ok: bool,
}

/// Every [`REPRODUCED`] figure of `measured` against `reference`; a figure one side lacks, or
/// a different number of questions, fails.
pub fn verdict(measured: &Figures, reference: &Figures, mode: Mode) -> Vec<Check> {
    REPRODUCED
        .iter()
        .map(|&name| {
            let (m, r) = (measured.values.get(name).copied(), reference.values.get(name).copied());
            let tol = tolerance(name, mode);
            let r_val = r.unwrap_or(f64::NAN);
            let allowed = if name == "bias" { tol * r_val.abs() } else { tol };
            let diff = m.unwrap_or(f64::NAN) - r_val;
            let ok = diff.abs() <= allowed && measured.questions == reference.questions;
            Check { figure: name.to_string(), measured: m.unwrap_or(f64::NAN), reference: r_val, diff, allowed, ok }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::QuestionIndex;

    fn table() -> QuestionTable {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let index = QuestionIndex {
            task: "t".into(),
            questions: s(&["q1", "q2", "q3"]),
            langs: s(&["de", "en"]),
            cells: vec![("de".into(), "de".into()), ("de".into(), "en".into()), ("en".into(), "en".into())],

            ..Default::default()
        };
        let mut t = QuestionTable::new(index);
        t.cell_ap = vec![vec![1.0, 0.5, 0.0], vec![f32::NAN, 0.25, 0.75], vec![0.5, 0.5, f32::NAN]];
        t.multi_ap = vec![vec![0.2, 0.4, 0.6], vec![0.1, f32::NAN, 0.3]];
        t.multi_r1 = vec![vec![1.0, 0.0, 0.0], vec![0.0, 0.0, 1.0]];
        t.multi_r10 = vec![vec![1.0, 1.0, 0.0], vec![0.5, 0.5, 0.5]];
        t.bias = vec![vec![10.0, 20.0, 30.0], vec![f32::NAN, f32::NAN, 4.0]];
        t
    }

    #[test]
    fn a_sample_s_figures_are_its_first_questions_macro_means() {
        let close = |f: &Figures, name: &str, v: f64| (f.values[name] - v).abs() < 1e-6;
        let f = figures(&table(), None);
        assert_eq!(f.questions, 3);
        // Mono: de/de 0.5, en/en 0.5 (the missing third question does not count as 0).
        assert!(close(&f, "mono_map", 0.5) && close(&f, "cross_map", 0.5) && close(&f, "multi_map", 0.3), "{f:?}");
        assert!(close(&f, "bias", 12.0), "{f:?}");
        // The first question only: de->en has no value there, so there is no cross figure.
        let f = figures(&table(), Some(1));
        assert_eq!(f.questions, 1);
        assert!(close(&f, "mono_map", 0.75) && close(&f, "bias", 10.0) && !f.values.contains_key("cross_map"), "{f:?}");
        assert_eq!(figures(&table(), Some(99)).questions, 3);
    }

    /// The committed sweep's tables give its reports' figures: what the page compares with is
    /// what the README cites.
    #[test]
    fn a_committed_table_gives_its_report_s_figures() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results/sweep/alpha-0.5-seed-1");
        let report: crate::report::Report = serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
        for task in ["xquad-r-heldout", "mkqa"] {
            let r = report.tasks.iter().find(|t| t.task == task).unwrap();
            let t = QuestionTable::from_bytes(&std::fs::read(dir.join(format!("{task}.questions.st.gz"))).unwrap(), task).unwrap();
            let f = figures(&t, None);
            let m = &r.macro_avg;
            let expected = [m.mono.map, m.cross.map, m.multi.map, m.multi.r1, m.multi.r10, r.bias.mean];
            for (name, want) in REPRODUCED.iter().zip(expected) {
                // Tables store [0, 1] values in steps of 1/65534; bias exactly.
                assert!((f.values[*name] - want).abs() <= 1e-5 * want.abs().max(1.0), "{task} {name}: table {} vs report {want}", f.values[*name]);
            }
        }
    }

    #[test]
    fn the_verdict_holds_each_figure_to_its_tolerance() {
        let reference = figures(&table(), None);
        let mut measured = reference.clone();
        assert!(verdict(&measured, &reference, Mode::Scratch).iter().all(|c| c.ok));
        *measured.values.get_mut("multi_map").unwrap() += 0.004;
        *measured.values.get_mut("bias").unwrap() *= 1.015;
        let scratch = verdict(&measured, &reference, Mode::Scratch);
        let failed: Vec<&str> = scratch.iter().filter(|c| !c.ok).map(|c| c.figure.as_str()).collect();
        assert_eq!(failed, ["multi_map", "bias"]);
        assert!((scratch[2].diff - 0.004).abs() < 1e-9 && (scratch[5].allowed - 0.024).abs() < 1e-9, "{scratch:?}");
        assert!(verdict(&measured, &reference, Mode::Shipped).iter().all(|c| c.ok), "within the int8 pools' tolerance");
        measured.values.remove("cross_map");
        assert!(!verdict(&measured, &reference, Mode::Shipped)[1].ok, "a missing figure fails");
        let mut other = reference.clone();
        other.questions = 2;
        assert!(verdict(&other, &reference, Mode::Shipped).iter().all(|c| !c.ok), "another sample fails");
    }

    #[test]
    fn a_bundle_task_is_rebuilt_and_cut_to_the_sample() {
        let pool = PoolTexts {
            ids: (0..4).map(|i| format!("c{i}")).collect(),
            langs: ["en", "de", "en", "de"].map(String::from).to_vec(),
            texts: (0..4).map(|i| format!("t{i}")).collect(),
        };
        let q = |qid: &str, lang: &str, rel: Vec<u32>| TaskQuery { qid: qid.into(), lang: lang.into(), text: format!("{qid}?"), relevant: rel };
        let mut queries: Vec<TaskQuery> = (0..SAMPLE_QUESTIONS + 5).flat_map(|i| [q(&format!("q{i}"), "en", vec![0, 1]), q(&format!("q{i}"), "de", vec![0, 1])]).collect();
        let whole = bundle_task("mkqa", &queries, &pool, Size::Whole).unwrap();
        assert_eq!((whole.queries.len(), whole.pool.len(), whole.langs.as_slice()), (2 * (SAMPLE_QUESTIONS + 5), 4, &["de".to_string(), "en".to_string()][..]));
        let sample = bundle_task("mkqa", &queries, &pool, Size::Sample).unwrap();
        assert_eq!((sample.queries.len(), sample.pool.len()), (2 * SAMPLE_QUESTIONS, 4), "the whole pool, the first questions");
        assert_eq!(sample.queries.last().unwrap().qid, format!("q{}", SAMPLE_QUESTIONS - 1));
        assert!(bundle_task("nope", &queries, &pool, Size::Whole).is_err());
        queries[3].relevant.push(4);
        assert!(bundle_task("mkqa", &queries, &pool, Size::Whole).unwrap_err().contains("outside the pool"));
        queries[3].relevant = vec![1, 1];
        assert!(bundle_task("mkqa", &queries, &pool, Size::Whole).unwrap_err().contains("twice"));
        queries[3].relevant = vec![1];
        queries[4].qid = queries[2].qid.clone();
        assert!(bundle_task("mkqa", &queries, &pool, Size::Whole).unwrap_err().contains("appears twice"));
    }
}
