//! `hybrid-ir sweep`: the alpha x seed grid, one cell at a time. Each cell is trained
//! (resumable), evaluated on every task, and written to `results/sweep/<cell>/` before the next
//! starts, so an interrupted sweep loses at most the cell in progress and a rerun skips every
//! finished one. Every stage's wall time is printed and appended to `results/sweep/runs.jsonl`.
//!
//! All checkpoints share the frozen trunk (layers below the trained ones), so each evaluation
//! text runs through the trunk once per process and through each model's top layers after that.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::eval::{cache_dir, embed_top, git_commit, pool_role, print_counts, write_questions};
use super::train::{prepare_logged_pairs, train_one, TrainArgs};
use super::{load_checkpoint, load_encoder, CliError};
use crate::encoder::{BackendKind, Encoder, Features, PIPELINE_VERSION};
use crate::model::{load_delta_dir, BertLayer, Checkpoint, DeltaManifest, DELTA_MANIFEST, DELTA_WEIGHTS};
use crate::report::{self, EvalOptions, QuestionTable, Report, TaskReport};
use crate::study::{self, questions_file, Cell};
use crate::tasks::{self, Task, TaskKind};
use crate::tokenize::Role;
use crate::train::{PairData, Prepared};

#[derive(clap::Args, Debug)]
pub struct SweepCmd {
    #[arg(long, value_delimiter = ',', default_value = "0,0.25,0.5,0.75,1")]
    alphas: Vec<f64>,
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    seeds: Vec<u64>,
    /// Checkpoints go to DIR/alpha-<a>-seed-<s>/.
    #[arg(long, default_value = "models/sweep")]
    models: PathBuf,
    /// Per-model results (DIR/<model>/report.json + per-question tables) and DIR/sweep.json.
    #[arg(long, default_value = "results/sweep")]
    results: PathBuf,
    /// Tasks every model is evaluated on (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "xquad-r-heldout,mlqa-r,mkqa,mkqa-parallel,mkqa-consistency")]
    tasks: Vec<String>,
    /// MKQA consistency on the first N test questions (x 12 languages); 0 = all 5,000.
    #[arg(long, default_value_t = 1000)]
    consistency_questions: usize,
    /// Bootstrap resamples for each report's 95% intervals.
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
    /// Quick runs (tests): cut every evaluation pool to about N candidates, keeping whole
    /// questions with their answers (0 = the full pools).
    #[arg(long, default_value_t = 0)]
    eval_pool_limit: usize,
    /// Train only; skip the evaluation.
    #[arg(long)]
    no_eval: bool,
    /// Seeds whose checkpoints are listed in DIR/manifest.json for the web page (their weights
    /// are the ones kept in git).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    ship_seeds: Vec<u64>,
    /// Shell command run after each finished cell (e.g. a git commit of its results), with
    /// HYBRID_IR_CELL, HYBRID_IR_CELL_RESULTS and HYBRID_IR_CELL_MODEL set.
    #[arg(long)]
    after_cell: Option<String>,
    /// Embedding cache folder (default: $HYBRID_IR_CACHE/embeddings or ~/.cache/hybrid-ir/embeddings).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    #[command(flatten)]
    args: TrainArgs,
}

/// Wall time of each stage of one sweep process.
#[derive(Default)]
struct Stages(Vec<(String, f64)>);

impl Stages {
    fn record(&mut self, name: impl Into<String>, since: Instant) {
        let (name, secs) = (name.into(), since.elapsed().as_secs_f64());
        eprintln!("[stage] {name}: {secs:.1} s");
        self.0.push((name, secs));
    }
}

/// Tasks, trunk features and per-model embeddings of the evaluation, built lazily and shared by
/// every model a process evaluates.
struct Evaluator<'a> {
    encoder: &'a Encoder,
    cache: PathBuf,
    split: usize,
    bootstrap: usize,
    tasks: Vec<Task>,
    /// Trunk features by (role, sha256 of the text list).
    trunk: HashMap<(bool, String), Option<Features>>,
}

impl<'a> Evaluator<'a> {
    fn new(encoder: &'a Encoder, data: &Path, kinds: &[TaskKind], cmd: &SweepCmd, cache: PathBuf, split: usize) -> Result<Self, CliError> {
        let mut tasks = Vec::new();
        for &kind in kinds {
            let mut task = tasks::load_task(kind, data)?;
            if kind == TaskKind::MkqaConsistency && cmd.consistency_questions > 0 {
                task = task.restrict(None, Some(cmd.consistency_questions));
            }
            if cmd.eval_pool_limit > 0 && task.labelled && !task.pool_is_queries {
                task = task.sample(cmd.eval_pool_limit);
            }
            print_counts(&task);
            tasks.push(task);
        }
        Ok(Evaluator { encoder, cache, split, bootstrap: cmd.bootstrap, tasks, trunk: HashMap::new() })
    }

    /// Vectors of `texts` for one model (its sha256 keys the embedding cache); trunk features
    /// are computed once per text list and role for every model of the process.
    fn embed(&mut self, sha: &str, layers: &[BertLayer], texts: &[&str], role: Role, what: &str, stages: &mut Stages) -> Result<Vec<f32>, CliError> {
        let key = (role == Role::Query, crate::model::sha256_hex(texts.join("\u{1f}").as_bytes()));
        let trunk = self.trunk.entry(key).or_default();
        let had_trunk = trunk.is_some();
        let t0 = Instant::now();
        let v = embed_top(self.encoder, &self.cache, sha, layers, self.split, texts, role, what, trunk)?;
        if !had_trunk && trunk.is_some() {
            stages.record(format!("trunk+top {what}"), t0);
        }
        Ok(v)
    }

    /// Every task for one model: reports and per-question tables.
    fn evaluate(&mut self, name: &str, sha: &str, layers: &[BertLayer], stages: &mut Stages) -> Result<Vec<(TaskReport, QuestionTable)>, CliError> {
        let device = BackendKind::Flex.device()?;
        let mut out = Vec::new();
        for i in 0..self.tasks.len() {
            let t0 = Instant::now();
            let (kind, labelled) = (self.tasks[i].kind, self.tasks[i].labelled);
            let q_texts: Vec<String> = self.tasks[i].queries.iter().map(|q| q.text.clone()).collect();
            let p_texts: Vec<String> = self.tasks[i].pool.iter().map(|c| c.text.clone()).collect();
            let q_refs: Vec<&str> = q_texts.iter().map(String::as_str).collect();
            let p_refs: Vec<&str> = p_texts.iter().map(String::as_str).collect();
            let role = pool_role(&self.tasks[i]);
            let qv = self.embed(sha, layers, &q_refs, Role::Query, &format!("{} queries ({name})", kind.name()), stages)?;
            let pv = self.embed(sha, layers, &p_refs, role, &format!("{} pool ({name})", kind.name()), stages)?;
            let t_embed = t0.elapsed().as_secs_f64();
            let opts = EvalOptions { bootstrap_samples: self.bootstrap, seed: 1, ..Default::default() };
            let (mut rep, _, questions) =
                report::evaluate_task(&self.tasks[i], &qv, &pv, self.encoder.dim(), &device, &opts, |_| {}).map_err(CliError::Usage)?;
            rep.timings.embed_queries_s = t_embed;
            if labelled {
                eprintln!(
                    "{name} {}: mAP mono {:.4} cross {:.4} multi {:.4}, bias {:.0}",
                    rep.task, rep.macro_avg.mono.map, rep.macro_avg.cross.map, rep.macro_avg.multi.map, rep.bias.mean
                );
            } else {
                eprintln!("{name} {}: consistency {:.4}", rep.task, rep.consistency.unwrap_or(f64::NAN));
            }
            stages.record(format!("evaluate {name} {}", kind.name()), t0);
            out.push((rep, questions));
        }
        Ok(out)
    }
}

/// What a finished model's results must carry to be skipped on a rerun.
fn results_current(dir: &Path, identity: &str, evaluation: &serde_json::Value) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("report.json")) else { return false };
    let Ok(report) = serde_json::from_str::<Report>(&text) else { return false };
    report.config["identity"] == identity
        && report.config["evaluation"] == *evaluation
        && report.tasks.iter().filter(|t| t.labelled).all(|t| dir.join(questions_file(&t.task)).is_file())
}

/// The finished checkpoint's manifest, if `dir` holds exactly this run with its weights (an
/// unshipped seed's weights are not in git: a fresh clone retrains such a cell if its results
/// are missing too).
fn trained(dir: &Path, fingerprint: &str) -> Option<DeltaManifest> {
    let text = std::fs::read_to_string(dir.join(DELTA_MANIFEST)).ok()?;
    let m: DeltaManifest = serde_json::from_str(&text).ok()?;
    let weights = std::fs::read(dir.join(DELTA_WEIGHTS)).ok()?;
    (m.complete && m.fingerprint == fingerprint && crate::model::sha256_hex(&weights) == m.weights_sha256).then_some(m)
}

#[allow(clippy::too_many_arguments)]
fn write_results(
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
        super::write_atomic(&csv, report::csv_table(&rep).as_bytes())?;
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
    super::write_atomic(&dir.join("report.json"), text.as_bytes())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}


pub fn sweep(cmd: SweepCmd) -> Result<(), CliError> {
    let started = Instant::now();
    let mut stages = Stages::default();
    let grid = study::cells(&cmd.alphas, &cmd.seeds)?;
    let kinds: Vec<TaskKind> = cmd
        .tasks
        .iter()
        .map(|t| TaskKind::parse_selection(t).map(|s| s.0).map_err(CliError::Usage))
        .collect::<Result<Vec<_>, _>>()?
        .concat();
    let data = crate::sources::data_root(cmd.args.data.as_deref());
    let t0 = Instant::now();
    let encoder = load_encoder(&cmd.args.model)?;
    let base = load_checkpoint(&cmd.args.model.model)?;
    let num_layers = base.config.num_layers;
    for cell in &grid {
        cmd.args.config(cell.alpha, cell.seed).validate(num_layers).map_err(|e| CliError::Usage(format!("{}: {e}", cell.name())))?;
    }
    let split = num_layers - cmd.args.train_layers;
    let pairs = PairData::load(&data, &cmd.args.config(grid[0].alpha, grid[0].seed))?;
    stages.record("load model and pairs", t0);
    let evaluation = serde_json::json!({
        "tasks": kinds.iter().map(|k| k.name()).collect::<Vec<_>>(),
        "consistency_questions": cmd.consistency_questions,
        "bootstrap": cmd.bootstrap,
        "trunk_split": split,
        "pipeline_version": PIPELINE_VERSION,
        "max_len_query": cmd.args.model.max_len_query,
        "max_len_passage": cmd.args.model.max_len_passage,
    });
    let mut evaluation = evaluation;
    if cmd.eval_pool_limit > 0 {
        // Only when set, so full runs keep the settings their committed results were made with.
        evaluation["pool_limit"] = cmd.eval_pool_limit.into();
    }
    let cache = cache_dir(cmd.cache_dir.as_ref());
    let mut evaluator: Option<Evaluator> = None;
    macro_rules! evaluator {
        () => {
            match &mut evaluator {
                Some(e) => e,
                None => {
                    let t = Instant::now();
                    let e = Evaluator::new(&encoder, &data, &kinds, &cmd, cache.clone(), split)?;
                    stages.record("load tasks", t);
                    evaluator.insert(e)
                }
            }
        };
    }

    if !cmd.no_eval {
        let dir = cmd.results.join("base");
        if results_current(&dir, &base.sha256, &evaluation) {
            eprintln!("base: results are current; skipping");
        } else {
            let t = Instant::now();
            let layers = encoder.bert.layers[split..].to_vec();
            let results = evaluator!().evaluate("base", &base.sha256, &layers, &mut stages)?;
            write_results(&dir, "base", &base.sha256, &base.sha256, &evaluation, serde_json::json!({}), results)?;
            stages.record("base: evaluate", t);
            collect(&cmd, &base)?;
        }
    }

    let fingerprints: Vec<String> =
        grid.iter().map(|c| pairs.fingerprint(&cmd.args.config(c.alpha, c.seed), &base.sha256, split)).collect();
    // The pairs do not depend on alpha or seed: loaded once, given to the trunk on first need.
    let mut pairs = Some(pairs);
    let mut prepared: Option<Prepared> = None;
    for (cell, fingerprint) in grid.iter().zip(&fingerprints) {
        let name = cell.name();
        let config = cmd.args.config(cell.alpha, cell.seed);
        let (model_dir, result_dir) = (cmd.models.join(&name), cmd.results.join(&name));
        if !cmd.no_eval && results_current(&result_dir, fingerprint, &evaluation) {
            eprintln!("{name}: trained and evaluated; skipping");
            continue;
        }
        let t = Instant::now();
        let manifest = match trained(&model_dir, fingerprint) {
            Some(m) => m,
            None => {
                if prepared.is_none() {
                    let tp = Instant::now();
                    let loaded = pairs.take().expect("pairs are taken once, with `prepared` set");
                    prepared = Some(prepare_logged_pairs(&encoder, loaded, &config)?);
                    stages.record("trunk features of the training pairs", tp);
                }
                let prep = prepared.as_ref().expect("just prepared");
                train_one(&base, prep, &config, &cmd.args, &model_dir)?
            }
        };
        let train_wall = t.elapsed().as_secs_f64();
        stages.record(format!("{name}: train"), t);
        if cmd.no_eval {
            continue;
        }
        let t = Instant::now();
        let (ckpt, _) = load_delta_dir(&base, &model_dir)?;
        let bert = ckpt.config.init_with(&ckpt.weights, &encoder.device)?;
        let results = evaluator!().evaluate(&name, &ckpt.sha256, &bert.layers[split..], &mut stages)?;
        let extra = serde_json::json!({
            "alpha": cell.alpha, "seed": cell.seed,
            "checkpoint_weights_sha256": manifest.weights_sha256,
            "train_steps": manifest.steps, "best_step": manifest.best_step, "best_valid_loss": manifest.best_valid_loss,
            "train_seconds": manifest.train_seconds,
            "wall_s": { "train": train_wall, "evaluate": t.elapsed().as_secs_f64() },
        });
        write_results(&result_dir, &name, &ckpt.sha256, fingerprint, &evaluation, extra, results)?;
        stages.record(format!("{name}: evaluate"), t);
        write_models_manifest(&cmd, &base, &fingerprints)?;
        collect(&cmd, &base)?;
        after_cell(&cmd, cell, &model_dir, &result_dir);
    }
    write_models_manifest(&cmd, &base, &fingerprints)?;
    if !cmd.no_eval {
        collect(&cmd, &base)?;
    }
    let total = started.elapsed().as_secs_f64();
    let run = serde_json::json!({
        "git_commit": git_commit(),
        "finished_unix": unix_now(),
        "grid": grid.iter().map(Cell::name).collect::<Vec<_>>(),
        "stages": stages.0.iter().map(|(n, s)| serde_json::json!({ "stage": n, "seconds": s })).collect::<Vec<_>>(),
        "total_s": total,
    });
    std::fs::create_dir_all(&cmd.results).map_err(|e| CliError::io(cmd.results.display(), e))?;
    let log = cmd.results.join("runs.jsonl");
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&log).map_err(|e| CliError::io(log.display(), e))?;
    std::io::Write::write_all(&mut f, format!("{run}\n").as_bytes()).map_err(|e| CliError::io(log.display(), e))?;
    eprintln!("sweep: {total:.0} s in this run; stages appended to {}", log.display());
    Ok(())
}

/// Runs the `--after-cell` command; a failure is reported (the cell's files are already
/// written) and the sweep goes on.
fn after_cell(cmd: &SweepCmd, cell: &Cell, model_dir: &Path, result_dir: &Path) {
    let Some(script) = &cmd.after_cell else { return };
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("HYBRID_IR_CELL", cell.name())
        .env("HYBRID_IR_CELL_MODEL", model_dir)
        .env("HYBRID_IR_CELL_RESULTS", result_dir)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => eprintln!("warning: --after-cell for {} exited with {s}; its results are in {}", cell.name(), result_dir.display()),
        Err(e) => eprintln!("warning: --after-cell for {} could not start: {e}", cell.name()),
    }
}

/// One evaluated model in sweep.json.
#[derive(serde::Serialize)]
struct SweepEntry {
    name: String,
    alpha: Option<f64>,
    seed: Option<u64>,
    checkpoint: Option<DeltaManifest>,
    report: Report,
}

/// `results/sweep.json` + `sweep.csv` from every model folder with a report (any cells, any
/// session): what the page's plots read.
fn collect(cmd: &SweepCmd, base: &Checkpoint) -> Result<(), CliError> {
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
    let results = serde_json::json!({
        "schema": "hybrid-ir/sweep",
        "version": 2,
        "git_commit": git_commit(),
        "base_sha256": base.sha256,
        "train_config": cmd.args.config(f64::NAN, 0),
        "entries": entries,
    });
    let text = serde_json::to_string_pretty(&results).map_err(|e| CliError::json("sweep.json", e))?;
    super::write_atomic(&cmd.results.join("sweep.json"), text.as_bytes())?;
    let mut csv = "model,alpha,seed,task,mono_map,cross_map,multi_map,multi_map_ci95,bias\n".to_string();
    for e in &entries {
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
    super::write_atomic(&cmd.results.join("sweep.csv"), csv.as_bytes())
}

/// `models/sweep/manifest.json`: the finished checkpoints of the shipped seeds (trained with
/// this sweep's configuration: `fingerprints` follow the grid), with the hashes a consumer (the
/// web page, a user downloading them) checks before trusting the files.
fn write_models_manifest(cmd: &SweepCmd, base: &Checkpoint, fingerprints: &[String]) -> Result<(), CliError> {
    let mut checkpoints = Vec::new();
    let grid = study::cells(&cmd.alphas, &cmd.seeds)?;
    for (cell, fingerprint) in grid.into_iter().zip(fingerprints).filter(|(c, _)| cmd.ship_seeds.contains(&c.seed)) {
        let dir = cmd.models.join(cell.name());
        let Some(m) = trained(&dir, fingerprint) else { continue };
        let Ok(manifest_bytes) = std::fs::read(dir.join(DELTA_MANIFEST)) else { continue };
        if !dir.join(DELTA_WEIGHTS).is_file() {
            continue;
        }
        checkpoints.push(serde_json::json!({
            "name": cell.name(),
            "alpha": cell.alpha,
            "seed": cell.seed,
            "layers": m.layers,
            "weights": format!("{}/{DELTA_WEIGHTS}", cell.name()),
            "weights_sha256": m.weights_sha256,
            "weights_bytes": m.weights_bytes,
            "manifest": format!("{}/{DELTA_MANIFEST}", cell.name()),
            "manifest_sha256": crate::model::sha256_hex(&manifest_bytes),
            "best_valid_loss": m.best_valid_loss,
            "best_step": m.best_step,
        }));
    }
    let doc = serde_json::json!({
        "schema": "hybrid-ir/checkpoints",
        "version": 1,
        "base": { "file": "../base/e5-small-q4.bin", "sha256": base.sha256, "fetch": "scripts/fetch-model" },
        "checkpoints": checkpoints,
    });
    let text = serde_json::to_string_pretty(&doc).map_err(|e| CliError::json("models manifest", e))?;
    std::fs::create_dir_all(&cmd.models).map_err(|e| CliError::io(cmd.models.display(), e))?;
    super::write_atomic(&cmd.models.join("manifest.json"), text.as_bytes())
}
