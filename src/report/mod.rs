//! Evaluation results: the versioned JSON report (schema in docs/report-schema.md), CSV tables,
//! TREC run/qrels files, and the plain-text summary table.

mod evaluate;
mod questions;
mod trec;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::{Robustness, Summary};
use crate::sources::FileChecksum;

pub use evaluate::{evaluate_task, EvalOptions, SEEN_LANGS};
pub use questions::{Grid, QuestionIndex, QuestionTable};
pub use trec::TrecFiles;

/// Bumped whenever a field changes meaning or disappears.
pub const REPORT_SCHEMA: &str = "hybrid-ir/eval-report";
pub const REPORT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelInfo {
    pub source: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub version: u32,
    pub crate_version: String,
    pub git_commit: String,
    pub created_unix: u64,
    pub model: ModelInfo,
    pub config: serde_json::Value,
    pub seed: u64,
    pub tasks: Vec<TaskReport>,
}

/// Macro averages with 95% bootstrap intervals of their mAP.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Macro {
    pub mono: Summary,
    pub cross: Summary,
    pub multi: Summary,
    pub mono_map_ci95: Option<(f64, f64)>,
    pub cross_map_ci95: Option<(f64, f64)>,
    pub multi_map_ci95: Option<(f64, f64)>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Bias {
    /// Per query language: mean bias over its queries (multi setting), lower is better.
    pub per_lang: BTreeMap<String, f64>,
    /// Per query language: share of queries whose best-ranked relevant candidate is in that
    /// language (own-language preference); a top shared by identical texts in k languages
    /// counts 1/k ([`crate::metrics::query_bias`]). Absent for a language whose queries have no
    /// relevant candidate in it (undefined, e.g. parallel-question retrieval).
    pub own_language: BTreeMap<String, f64>,
    /// Per query language: queries whose top was such a tie (absent in reports before ties
    /// were handled, [`crate::metrics::BIAS_TIES`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tied_top: BTreeMap<String, usize>,
    /// Per query language: queries with an own-language answer whose text is also another
    /// language's answer (MKQA's names, numbers and dates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub shared_answer: BTreeMap<String, usize>,
    /// Mean over query languages.
    pub mean: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timings {
    pub embed_queries_s: f64,
    pub embed_pool_s: f64,
    pub score_s: f64,
    pub metrics_s: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TaskReport {
    pub task: String,
    pub langs: Vec<String>,
    /// lang -> (queries, pool candidates).
    pub counts: BTreeMap<String, (usize, usize)>,
    pub labelled: bool,
    /// X -> summary of queries in X against the pool of X.
    pub mono: BTreeMap<String, Summary>,
    /// X -> Y -> summary (X != Y).
    pub cross: BTreeMap<String, BTreeMap<String, Summary>>,
    /// X -> summary against the whole multilingual pool.
    pub multi: BTreeMap<String, Summary>,
    #[serde(rename = "macro")]
    pub macro_avg: Macro,
    pub bias: Bias,
    /// Of the cross-lingual mAP matrix.
    pub robustness: Option<Robustness>,
    /// MKQA: Cr. mAP split by whether X and Y are training languages ("seen-seen", ...).
    pub seen_unseen: BTreeMap<String, f64>,
    /// Label-free consistency (MKQA consistency): mean top-10 overlap, per language and overall.
    pub consistency: Option<f64>,
    pub truncated_queries: usize,
    pub truncated_pool: usize,
    pub data: Vec<FileChecksum>,
    pub timings: Timings,
}

fn pct(x: f64) -> String {
    format!("{:.1}", 100.0 * x)
}

/// The readable table printed after an evaluation.
pub fn summary_table(tasks: &[TaskReport]) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "{:<18} {:>7} {:>7} {:>7} {:>16} {:>7} {:>7} {:>9} {:>7}\n",
        "task", "Mo.mAP", "Cr.mAP", "Mul.mAP", "Mul.mAP 95% CI", "R@1", "R@10", "nDCG@10", "bias"
    ));
    for t in tasks {
        if !t.labelled {
            s.push_str(&format!(
                "{:<18} top-10 consistency across languages: {}\n",
                t.task,
                t.consistency.map(pct).unwrap_or_else(|| "-".into())
            ));
            continue;
        }
        let m = &t.macro_avg;
        let ci = m.multi_map_ci95.map(|(a, b)| format!("[{}, {}]", pct(a), pct(b))).unwrap_or_else(|| "-".into());
        s.push_str(&format!(
            "{:<18} {:>7} {:>7} {:>7} {:>16} {:>7} {:>7} {:>9} {:>7.1}\n",
            t.task,
            pct(m.mono.map),
            pct(m.cross.map),
            pct(m.multi.map),
            ci,
            pct(m.multi.r1),
            pct(m.multi.r10),
            pct(m.multi.ndcg10),
            t.bias.mean
        ));
    }
    s.push_str("(metrics x100; R@k, nDCG@10 in the multilingual setting; bias = mean max-min best rank per language)\n");
    s
}

/// One CSV row per (setting, X, Y): every metric.
pub fn csv_table(t: &TaskReport) -> String {
    let mut s = String::from("task,setting,query_lang,pool_lang,queries,map,map20,r1,r10,ndcg10,mrr10\n");
    let mut row = |setting: &str, x: &str, y: &str, m: &Summary| {
        s.push_str(&format!(
            "{},{setting},{x},{y},{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6}\n",
            t.task, m.n, m.map, m.map20, m.r1, m.r10, m.ndcg10, m.mrr10
        ));
    };
    for (x, m) in &t.mono {
        row("mono", x, x, m);
    }
    for (x, ys) in &t.cross {
        for (y, m) in ys {
            row("cross", x, y, m);
        }
    }
    for (x, m) in &t.multi {
        row("multi", x, "all", m);
    }
    s
}
