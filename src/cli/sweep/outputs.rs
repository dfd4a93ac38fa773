//! What a sweep leaves on disk: each model's results folder, `sweep.json` / `sweep.csv` over
//! all of them, the models manifest of the shipped checkpoints, and the state of every cell
//! (done, trained, running, failed, missing) for `--stage collect`.

use std::path::Path;

use super::SweepCmd;
use crate::cli::{git_commit, write_questions};
use crate::cli::CliError;
use crate::files::Lock;
use crate::model::{Checkpoint, DeltaManifest, DELTA_MANIFEST, DELTA_WEIGHTS};
use crate::report::{self, QuestionTable, Report, TaskReport};
use crate::study::{self, questions_file};
use crate::sweep::{
    Versioned,
    BaseRef, CheckpointsManifest, FailureRecord, ShippedCheckpoint, SweepEntry, SweepFile, CHECKPOINTS_SCHEMA, CHECKPOINTS_VERSION, SWEEP_SCHEMA,
    SWEEP_VERSION,
};

/// What a finished model's results must carry to be skipped on a rerun.
pub(super) fn results_current(dir: &Path, identity: &str, evaluation: &serde_json::Value) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("report.json")) else { return false };
    let Ok(report) = serde_json::from_str::<Report>(&text) else { return false };
    report.config["identity"] == identity
        && report.config["evaluation"] == *evaluation
        && report.tasks.iter().filter(|t| t.labelled).all(|t| dir.join(questions_file(&t.task)).is_file())
}

/// The finished checkpoint's manifest, if `dir` holds exactly this run with its weights (an
/// unshipped seed's weights are not in git: a fresh clone retrains such a cell if its results
/// are missing too).
pub(super) fn trained(dir: &Path, fingerprint: &str) -> Option<DeltaManifest> {
    let text = std::fs::read_to_string(dir.join(DELTA_MANIFEST)).ok()?;
    let m: DeltaManifest = serde_json::from_str(&text).ok()?;
    let weights = std::fs::read(dir.join(DELTA_WEIGHTS)).ok()?;
    (m.complete && m.fingerprint == fingerprint && crate::model::sha256_hex(&weights) == m.weights_sha256).then_some(m)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn write_results(
    dir: &Path,
    name: &str,
    sha: &str,
    identity: &str,
    evaluation: &serde_json::Value,
    extra: serde_json::Value,
    results: Vec<(TaskReport, QuestionTable)>,
) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|e| CliError::io(dir.display(), e))?;
    let mut tasks = Vec::new();
    for (rep, questions) in results {
        let csv = dir.join(format!("{}.csv", rep.task));
        crate::cli::write_atomic(&csv, report::csv_table(&rep).as_bytes())?;
        if rep.labelled {
            write_questions(dir, &questions)?;
        }
        tasks.push(rep);
    }
    let mut config = serde_json::json!({ "identity": identity, "evaluation": evaluation });
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    let report = Report {
        schema: report::REPORT_SCHEMA.into(),
        version: report::REPORT_VERSION,
        crate_version: env!("CARGO_PKG_VERSION").into(),
        git_commit: git_commit(),
        created_unix: unix_now(),
        model: report::ModelInfo { source: name.into(), sha256: sha.into() },
        config,
        seed: 1,
        tasks,
    };
    let text = serde_json::to_string_pretty(&report).map_err(|e| CliError::json("report.json", e))?;
    // The report goes last: its presence marks the model's results complete.
    crate::cli::write_atomic(&dir.join("report.json"), text.as_bytes())
}

pub(super) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `results/sweep.json` + `sweep.csv` from every model folder with a report (any cells, any
/// session): what the page's plots read.
pub(super) fn collect(cmd: &SweepCmd, base: &Checkpoint) -> Result<(), CliError> {
    let models = study::load_results(&cmd.results)?;
    let mut entries = Vec::new();
    for m in models {
        let checkpoint = m.cell.and_then(|c| {
            let text = std::fs::read_to_string(cmd.models.join(c.name()).join(DELTA_MANIFEST)).ok()?;
            serde_json::from_str::<DeltaManifest>(&text).ok()
        });
        entries.push(SweepEntry { name: m.name, alpha: m.cell.map(|c| c.alpha), seed: m.cell.map(|c| c.seed), checkpoint, report: m.report });
    }
    entries.sort_by(|a, b| (a.seed, a.alpha.unwrap_or(-1.0)).partial_cmp(&(b.seed, b.alpha.unwrap_or(-1.0))).unwrap_or(std::cmp::Ordering::Equal));
    let results = SweepFile {
        schema: SWEEP_SCHEMA.into(),
        version: SWEEP_VERSION,
        git_commit: git_commit(),
        base_sha256: base.sha256.clone(),
        train_config: serde_json::to_value(cmd.args.config(f64::NAN, 0)).map_err(|e| CliError::json("sweep.json", e))?,
        entries,
    };
    let text = results.to_json().map_err(|e| CliError::json("sweep.json", e))?;
    crate::cli::write_atomic(&cmd.results.join("sweep.json"), text.as_bytes())?;
    let mut csv = "model,alpha,seed,task,mono_map,cross_map,multi_map,multi_map_ci95,bias\n".to_string();
    for e in &results.entries {
        for t in &e.report.tasks {
            let ci = t.macro_avg.multi_map_ci95.map(|(a, b)| format!("{:.4}-{:.4}", a, b)).unwrap_or_default();
            csv += &format!(
                "{},{},{},{},{:.4},{:.4},{:.4},{ci},{:.1}\n",
                e.name,
                e.alpha.map(|a| a.to_string()).unwrap_or_else(|| "base".into()),
                e.seed.map(|s| s.to_string()).unwrap_or_default(),
                t.task,
                t.macro_avg.mono.map,
                t.macro_avg.cross.map,
                t.macro_avg.multi.map,
                t.bias.mean
            );
        }
    }
    crate::cli::write_atomic(&cmd.results.join("sweep.csv"), csv.as_bytes())
}

/// `models/sweep/manifest.json`: the finished checkpoints of the shipped seeds (trained with
/// this sweep's configuration: `fingerprints` follow the grid), with the hashes a consumer (the
/// web page, a user downloading them) checks before trusting the files.
pub(super) fn write_models_manifest(cmd: &SweepCmd, base: &Checkpoint, fingerprints: &[String]) -> Result<(), CliError> {
    let mut checkpoints = Vec::new();
    let grid = study::cells(&cmd.alphas, &cmd.seeds)?;
    for (cell, fingerprint) in grid.into_iter().zip(fingerprints).filter(|(c, _)| cmd.ship_seeds.contains(&c.seed)) {
        let dir = cmd.models.join(cell.name());
        let Some(m) = trained(&dir, fingerprint) else { continue };
        let Ok(manifest_bytes) = std::fs::read(dir.join(DELTA_MANIFEST)) else { continue };
        if !dir.join(DELTA_WEIGHTS).is_file() {
            continue;
        }
        checkpoints.push(ShippedCheckpoint {
            name: cell.name(),
            alpha: cell.alpha,
            seed: cell.seed,
            layers: m.layers,
            weights: format!("{}/{DELTA_WEIGHTS}", cell.name()),
            weights_sha256: m.weights_sha256,
            weights_bytes: m.weights_bytes,
            manifest: format!("{}/{DELTA_MANIFEST}", cell.name()),
            manifest_sha256: crate::model::sha256_hex(&manifest_bytes),
            best_valid_loss: m.best_valid_loss,
            best_step: m.best_step,
        });
    }
    let doc = CheckpointsManifest {
        schema: CHECKPOINTS_SCHEMA.into(),
        version: CHECKPOINTS_VERSION,
        base: BaseRef { file: "../base/e5-small-q4.bin".into(), sha256: base.sha256.clone(), fetch: "scripts/fetch-model".into() },
        checkpoints,
    };
    let text = doc.to_json().map_err(|e| CliError::json("models manifest", e))?;
    std::fs::create_dir_all(&cmd.models).map_err(|e| CliError::io(cmd.models.display(), e))?;
    crate::cli::write_atomic(&cmd.models.join("manifest.json"), text.as_bytes())
}

/// Where a cell of the grid stands, as `--stage collect` reports it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum CellState {
    /// Trained and evaluated with this sweep's settings (trained, with `--no-eval`).
    Done,
    /// Trained; not evaluated yet.
    Trained,
    /// A process holds the cell's lock (its text names the process).
    Running(String),
    /// The last attempt failed (stage and error), and no later one succeeded.
    Failed(String),
    Missing,
}

impl std::fmt::Display for CellState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CellState::Done => write!(f, "done"),
            CellState::Trained => write!(f, "trained, not evaluated"),
            CellState::Running(who) => write!(f, "running ({who})"),
            CellState::Failed(why) => write!(f, "FAILED: {why}"),
            CellState::Missing => write!(f, "missing"),
        }
    }
}

/// The file that records a cell's last failure; removed when a stage of the cell succeeds.
pub(super) fn failure_file(result_dir: &Path) -> std::path::PathBuf {
    result_dir.join("failed.json")
}

/// Records that `stage` of a cell failed with `error` (best effort: the error itself is what
/// the caller returns).
pub(super) fn record_failure(result_dir: &Path, stage: &str, error: &str) {
    let doc = FailureRecord { stage: stage.into(), error: error.into(), unix: unix_now(), slurm_job: std::env::var("SLURM_JOB_ID").ok() };
    if let (Ok(()), Ok(text)) = (std::fs::create_dir_all(result_dir), serde_json::to_string(&doc)) {
        let _ = crate::files::write_atomic(&failure_file(result_dir), text.as_bytes());
    }
}

/// Removes the failure record of `stage` (a record of another stage stays: a train that finds
/// the checkpoint done says nothing about the evaluation that failed).
pub(super) fn clear_failure(result_dir: &Path, stage: &str) {
    let path = failure_file(result_dir);
    let recorded = std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str::<FailureRecord>(&t).ok());
    if recorded.is_some_and(|r| r.stage == stage) {
        let _ = std::fs::remove_file(path);
    }
}

/// The state of the cell whose checkpoint folder is `model_dir` and results folder `result_dir`.
pub(super) fn cell_state(model_dir: &Path, result_dir: &Path, fingerprint: &str, evaluation: Option<&serde_json::Value>) -> CellState {
    for dir in [model_dir, result_dir] {
        if let Some(who) = Lock::holder_of(&dir.join(".lock")) {
            return CellState::Running(who);
        }
    }
    let trained = trained(model_dir, fingerprint).is_some();
    let done = match evaluation {
        Some(e) => results_current(result_dir, fingerprint, e),
        None => trained,
    };
    if done {
        return CellState::Done;
    }
    if let Ok(text) = std::fs::read_to_string(failure_file(result_dir)) {
        return CellState::Failed(match serde_json::from_str::<FailureRecord>(&text) {
            Ok(r) => format!("{}: {}", r.stage, r.error),
            Err(_) => format!("unreadable failure record: {}", text.trim()),
        });
    }
    if trained {
        CellState::Trained
    } else {
        CellState::Missing
    }
}

/// Copies a model's results folder (`report.json` last: it marks the copy complete); what a
/// snapshot folder gets of the base, whose evaluation does not depend on the step.
pub(super) fn copy_results(from: &Path, to: &Path) -> Result<(), CliError> {
    std::fs::create_dir_all(to).map_err(|e| CliError::io(to.display(), e))?;
    let mut files: Vec<_> = std::fs::read_dir(from)
        .map_err(|e| CliError::io(from.display(), e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| n != ".lock" && n != "failed.json" && from.join(n).is_file())
        .collect();
    files.sort_by_key(|n| n == "report.json");
    for name in files {
        let bytes = std::fs::read(from.join(&name)).map_err(|e| CliError::io(from.join(&name).display(), e))?;
        crate::cli::write_atomic(&to.join(&name), &bytes)?;
    }
    Ok(())
}
