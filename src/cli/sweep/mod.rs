//! `hybrid-ir sweep`: the alpha x seed grid as stages a scheduler can call, or all of them in a
//! loop on one machine (`--stage all`, the default):
//! - `prepare`: trunk features of the training pairs and of every evaluation text list, computed
//!   once into the shared trunk store; the base model evaluated;
//! - `train --cell I`: one checkpoint (resumable from its last saved step);
//! - `eval --cell I`: that checkpoint on every task, into `results/<cell>/`, and with
//!   `--snapshots N,M` each snapshot `models/<cell>/step-N/` into `results/step-N/<cell>/` (each
//!   `results/step-N/` also gets the base's results, so it is a complete study input: the
//!   learning curves at a fixed budget);
//! - `collect`: `sweep.json`, `sweep.csv` and the models manifest from whatever cells are done,
//!   and the state of each cell.
//!
//! Every stage is idempotent (finished work is recognised by its files and skipped) and safe to
//! run twice at once on one shared folder: files are written atomically and each cell's training
//! and evaluation hold a kernel lock that dies with its process. Each process appends its
//! stages' wall times to `results/sweep/runs.jsonl`.

mod evaluator;
mod outputs;

use std::path::PathBuf;
use std::time::Instant;

use evaluator::Evaluator;
use outputs::{cell_state, clear_failure, record_failure, results_current, trained, unix_now, write_results, CellState};

use super::embed::cache_dir;
use super::git_commit;
use super::train::{prepare_logged_pairs, train_one, TrainArgs};
use super::{load_checkpoint, load_encoder, CliError};
use crate::encoder::{Encoder, TrunkStore, PIPELINE_VERSION};
use crate::files::Lock;
use crate::model::{load_delta_dir, Checkpoint, DeltaManifest};
use crate::train::snapshot_dir;
use crate::study::{self, Cell};
use crate::tasks::TaskKind;
use crate::train::{PairData, Prepared};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    All,
    Prepare,
    Train,
    Eval,
    Collect,
    List,
}

#[derive(clap::Args, Debug)]
pub struct SweepCmd {
    /// The part of the sweep to run. `all`: every stage in a loop, on this machine. A scheduler
    /// runs them as separate jobs (scripts/sweep-slurm): `prepare` once (trunk features into
    /// the shared store, the base model evaluated), then `train` and `eval` per cell (`--cell`),
    /// then `collect`. `list` prints the grid with each cell's index and state.
    #[arg(long, value_enum, default_value_t = Stage::All)]
    stage: Stage,
    /// The cell of `--stage train|eval`: its index in the grid (`--stage list` prints them).
    #[arg(long, conflicts_with_all = ["alpha", "seed"])]
    cell: Option<usize>,
    /// The cell of `--stage train|eval` by its alpha (with --seed); it must be in the grid.
    #[arg(long, requires = "seed")]
    alpha: Option<f64>,
    /// The cell of `--stage train|eval` by its seed (with --alpha).
    #[arg(long, requires = "alpha")]
    seed: Option<u64>,
    /// `--stage collect`: exit with an error unless every cell is done.
    #[arg(long)]
    require_complete: bool,
    /// Trunk feature store, shared by every stage and node (default: <cache-dir>/trunk).
    #[arg(long)]
    trunk_dir: Option<PathBuf>,

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
    /// HYBRID_IR_CELL, HYBRID_IR_CELL_RESULTS, HYBRID_IR_CELL_MODEL, HYBRID_IR_SWEEP_MODELS
    /// (--models) and HYBRID_IR_SWEEP_RESULTS (--results) set.
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

/// One sweep process: the grid, the loaded model and what its stages share.
struct Sweep {
    cmd: SweepCmd,
    grid: Vec<Cell>,
    kinds: Vec<TaskKind>,
    data: PathBuf,
    encoder: Encoder,
    base: Checkpoint,
    split: usize,
    /// The evaluation settings every report carries; a report with others is redone.
    evaluation: serde_json::Value,
    cache: PathBuf,
    store: TrunkStore,
    /// Per cell, the hash of its training run (configuration, base model, data).
    fingerprints: Vec<String>,
    /// The training pairs (cheap to load), until their trunk features are prepared.
    pairs: Option<PairData>,
    prepared: Option<Prepared>,
    evaluator: Option<Evaluator>,
    stages: Stages,
}

impl Sweep {
    /// Checks the whole grid before any work, loads the model and the training pairs.
    fn open(cmd: SweepCmd) -> Result<Sweep, CliError> {
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
        let mut evaluation = serde_json::json!({
            "tasks": kinds.iter().map(|k| k.name()).collect::<Vec<_>>(),
            "consistency_questions": cmd.consistency_questions,
            "bootstrap": cmd.bootstrap,
            "trunk_split": split,
            "pipeline_version": PIPELINE_VERSION,
            "bias_ties": crate::metrics::BIAS_TIES,
            "max_len_query": cmd.args.model.max_len_query,
            "max_len_passage": cmd.args.model.max_len_passage,
        });
        if cmd.eval_pool_limit > 0 {
            // Only when set, so full runs keep the settings their committed results were made with.
            evaluation["pool_limit"] = cmd.eval_pool_limit.into();
        }
        let fingerprints = grid.iter().map(|c| pairs.fingerprint(&cmd.args.config(c.alpha, c.seed), &base.sha256, split)).collect();
        let cache = cache_dir(cmd.cache_dir.as_ref());
        let store = TrunkStore::new(cmd.trunk_dir.clone().unwrap_or_else(|| cache.join("trunk")));
        Ok(Sweep {
            cmd,
            grid,
            kinds,
            data,
            encoder,
            base,
            split,
            evaluation,
            cache,
            store,
            fingerprints,
            pairs: Some(pairs),
            prepared: None,
            evaluator: None,
            stages,
        })
    }

    /// The cell `--cell` or `--alpha/--seed` names.
    fn selected_cell(&self) -> Result<usize, CliError> {
        let n = self.grid.len();
        match (self.cmd.cell, self.cmd.alpha, self.cmd.seed) {
            (Some(i), _, _) if i < n => Ok(i),
            (Some(i), _, _) => Err(CliError::Usage(format!("--cell {i} is outside the grid of {n} cells (0..{}; --stage list prints them)", n - 1))),
            (None, Some(a), Some(s)) => self.grid.iter().position(|c| c.alpha == a && c.seed == s).ok_or_else(|| {
                CliError::Usage(format!("alpha {a} seed {s} is not a cell of the grid (--alphas {:?} --seeds {:?})", self.cmd.alphas, self.cmd.seeds))
            }),
            _ => Err(CliError::Usage(format!("--stage {} needs --cell I or --alpha A --seed S", stage_name(self.cmd.stage)))),
        }
    }

    fn model_dir(&self, i: usize) -> PathBuf {
        self.cmd.models.join(self.grid[i].name())
    }

    fn result_dir(&self, i: usize) -> PathBuf {
        self.cmd.results.join(self.grid[i].name())
    }

    /// What cell `i` evaluates: its kept checkpoint, then each `--snapshots` step.
    fn targets(&self, i: usize) -> Vec<Target> {
        let name = self.grid[i].name();
        let main = Target { model: self.model_dir(i), results: self.result_dir(i), identity: self.fingerprints[i].clone(), step: None };
        let snapshots = self.cmd.args.snapshots.iter().map(|&s| Target {
            model: snapshot_dir(&self.model_dir(i), s),
            results: step_results(&self.cmd.results, s).join(&name),
            identity: format!("{}@step-{s}", self.fingerprints[i]),
            step: Some(s),
        });
        std::iter::once(main).chain(snapshots).collect()
    }

    /// Cell `i`'s checkpoint and every snapshot asked for, finished with this configuration.
    fn trained_all(&self, i: usize) -> Option<DeltaManifest> {
        let mut targets = self.targets(i).into_iter();
        let main = trained(&targets.next().expect("the kept checkpoint comes first").model, &self.fingerprints[i])?;
        targets.all(|t| trained(&t.model, &self.fingerprints[i]).is_some()).then_some(main)
    }

    fn evaluated_all(&self, i: usize) -> bool {
        self.targets(i).iter().all(|t| results_current(&t.results, &t.identity, &self.evaluation))
    }

    fn evaluation(&self) -> Option<&serde_json::Value> {
        (!self.cmd.no_eval).then_some(&self.evaluation)
    }

    fn state(&self, i: usize) -> CellState {
        match cell_state(&self.model_dir(i), &self.result_dir(i), &self.fingerprints[i], self.evaluation()) {
            // The kept checkpoint is done, a snapshot is not.
            CellState::Done if !self.is_done(i) => {
                if self.trained_all(i).is_some() {
                    CellState::Trained
                } else {
                    CellState::Missing
                }
            }
            state => state,
        }
    }

    /// Done without looking at locks or failures: what the loop and `prepare` skip.
    fn is_done(&self, i: usize) -> bool {
        match self.evaluation() {
            Some(_) => self.evaluated_all(i),
            None => self.trained_all(i).is_some(),
        }
    }

    fn evaluator(&mut self) -> Result<&mut Evaluator, CliError> {
        if self.evaluator.is_none() {
            let t = Instant::now();
            let e = Evaluator::new(&self.data, &self.kinds, &self.cmd, self.cache.clone(), self.store.clone(), self.split)?;
            self.stages.record("load tasks", t);
            self.evaluator = Some(e);
        }
        Ok(self.evaluator.as_mut().expect("just set"))
    }

    /// The training pairs' trunk features in `self.prepared`: from the store, or computed into it.
    fn prepare_pairs(&mut self) -> Result<(), CliError> {
        if self.prepared.is_none() {
            let t = Instant::now();
            let pairs = self.pairs.take().expect("pairs are taken once, with `prepared` set");
            let config = self.cmd.args.config(self.grid[0].alpha, self.grid[0].seed);
            self.prepared = Some(prepare_logged_pairs(&self.encoder, pairs, &config, Some(&self.store))?);
            self.stages.record("trunk features of the training pairs", t);
        }
        Ok(())
    }

    /// Stage `prepare`: whatever the unfinished cells will need, computed once into the store;
    /// the base model evaluated. Nothing is computed when every cell is done.
    fn prepare(&mut self) -> Result<(), CliError> {
        let pending: Vec<usize> = (0..self.grid.len()).filter(|&i| !self.is_done(i)).collect();
        if pending.iter().any(|&i| self.trained_all(i).is_none()) {
            self.prepare_pairs()?;
        }
        if self.cmd.no_eval {
            return Ok(());
        }
        let dir = self.cmd.results.join("base");
        std::fs::create_dir_all(&dir).map_err(|e| CliError::io(dir.display(), e))?;
        let lock = cell_lock(&dir, "base evaluation")?;
        let base_done = results_current(&dir, &self.base.sha256, &self.evaluation);
        if !pending.is_empty() || !base_done {
            self.evaluator()?;
            let Sweep { evaluator, encoder, stages, .. } = self;
            evaluator.as_mut().expect("loaded").prepare(encoder, stages)?;
        }
        if base_done {
            eprintln!("base: results are current; skipping");
        } else {
            let t = Instant::now();
            let layers = self.encoder.bert.layers[self.split..].to_vec();
            let sha = self.base.sha256.clone();
            let results = self.evaluate("base", &sha, &layers)?;
            write_results(&dir, "base", &sha, &sha, &self.evaluation, serde_json::json!({}), results)?;
            self.stages.record("base: evaluate", t);
        }
        for &step in &self.cmd.args.snapshots {
            let to = step_results(&self.cmd.results, step).join("base");
            if !results_current(&to, &self.base.sha256, &self.evaluation) {
                outputs::copy_results(&dir, &to)?;
            }
        }
        drop(lock);
        Ok(())
    }

    /// The model's reports on every task (tasks loaded on first use).
    fn evaluate(&mut self, name: &str, sha: &str, layers: &[crate::model::BertLayer]) -> Result<Vec<(crate::report::TaskReport, crate::report::QuestionTable)>, CliError> {
        self.evaluator()?;
        let Sweep { evaluator, encoder, stages, .. } = self;
        evaluator.as_mut().expect("loaded").evaluate(encoder, name, sha, layers, stages)
    }

    /// Stage `train` of cell `i`: its checkpoint, unless finished already (then its manifest).
    fn train_cell(&mut self, i: usize) -> Result<DeltaManifest, CliError> {
        let (name, dir) = (self.grid[i].name(), self.model_dir(i));
        std::fs::create_dir_all(&dir).map_err(|e| CliError::io(dir.display(), e))?;
        let _lock = cell_lock(&dir, &format!("{name} training"))?;
        if let Some(m) = self.trained_all(i) {
            eprintln!("{name}: already trained with this configuration; skipping");
            return Ok(m);
        }
        let config = self.cmd.args.config(self.grid[i].alpha, self.grid[i].seed);
        self.prepare_pairs()?;
        // Timed after the trunk features, which have their own stage.
        let t = Instant::now();
        let prepared = self.prepared.as_ref().expect("prepared above");
        let manifest = train_one(&self.base, prepared, &config, &self.cmd.args, &dir)?;
        self.stages.record(format!("{name}: train"), t);
        Ok(manifest)
    }

    /// Stage `eval` of cell `i`: its results folder (and each snapshot's), unless current
    /// already. The cell must be trained (stage `train`) first.
    fn eval_cell(&mut self, i: usize, train_wall: Option<f64>) -> Result<(), CliError> {
        let (cell, name, result_dir) = (self.grid[i], self.grid[i].name(), self.result_dir(i));
        std::fs::create_dir_all(&result_dir).map_err(|e| CliError::io(result_dir.display(), e))?;
        let _lock = cell_lock(&result_dir, &format!("{name} evaluation"))?;
        if self.evaluated_all(i) {
            eprintln!("{name}: already evaluated; skipping");
            return Ok(());
        }
        for target in self.targets(i) {
            if results_current(&target.results, &target.identity, &self.evaluation) {
                continue;
            }
            let Some(manifest) = trained(&target.model, &self.fingerprints[i]) else {
                return Err(CliError::Usage(format!(
                    "{name} has no finished checkpoint with this configuration in {}: run --stage train --cell {i} first",
                    target.model.display()
                )));
            };
            let label = match target.step {
                Some(s) => format!("{name} step {s}"),
                None => name.clone(),
            };
            let t = Instant::now();
            let (ckpt, _) = load_delta_dir(&self.base, &target.model)?;
            let bert = ckpt.config.init_with(&ckpt.weights, &self.encoder.device)?;
            let results = self.evaluate(&label, &ckpt.sha256, &bert.layers[self.split..])?;
            let mut wall = serde_json::json!({ "evaluate": t.elapsed().as_secs_f64() });
            if let (Some(s), None) = (train_wall, target.step) {
                wall["train"] = s.into();
            }
            let mut extra = serde_json::json!({
                "alpha": cell.alpha, "seed": cell.seed,
                "checkpoint_weights_sha256": manifest.weights_sha256,
                "train_steps": manifest.steps, "best_step": manifest.best_step, "best_valid_loss": manifest.best_valid_loss,
                "train_seconds": manifest.train_seconds,
                "code": manifest.code,
                "wall_s": wall,
            });
            if let Some(s) = target.step {
                // A snapshot is the weights at that step, not the best validation loss so far.
                extra["snapshot_step"] = s.into();
            }
            write_results(&target.results, &name, &ckpt.sha256, &target.identity, &self.evaluation, extra, results)?;
            self.stages.record(format!("{label}: evaluate"), t);
        }
        Ok(())
    }

    /// Runs `stage` of cell `i`, recording a failure in the cell's results folder (for
    /// `collect`) and clearing an earlier one on success.
    fn guarded<T>(&mut self, i: usize, stage: &str, run: impl FnOnce(&mut Self) -> Result<T, CliError>) -> Result<T, CliError> {
        let dir = self.result_dir(i);
        match run(self) {
            Ok(v) => {
                clear_failure(&dir, stage);
                Ok(v)
            }
            Err(e) => {
                record_failure(&dir, stage, &e.to_string());
                Err(e)
            }
        }
    }

    /// Stage `collect`: the files over all finished models, and each cell's state.
    fn collect(&mut self) -> Result<Vec<CellState>, CliError> {
        outputs::write_models_manifest(&self.cmd, &self.base, &self.fingerprints)?;
        if !self.cmd.no_eval && self.cmd.results.is_dir() {
            outputs::collect(&self.cmd, &self.base)?;
        }
        Ok((0..self.grid.len()).map(|i| self.state(i)).collect())
    }

    /// Stage `all`: prepare, then train and evaluate one cell after the other, the collected
    /// files refreshed after each (so an interrupted sweep loses at most the cell in progress).
    fn run_all(&mut self) -> Result<(), CliError> {
        self.prepare()?;
        for i in 0..self.grid.len() {
            let name = self.grid[i].name();
            if self.is_done(i) {
                eprintln!("{name}: trained and evaluated; skipping");
                continue;
            }
            let t = Instant::now();
            self.guarded(i, "train", |s| s.train_cell(i))?;
            if self.cmd.no_eval {
                continue;
            }
            let train_wall = t.elapsed().as_secs_f64();
            self.guarded(i, "eval", |s| s.eval_cell(i, Some(train_wall)))?;
            self.collect()?;
            after_cell(&self.cmd, &self.grid[i], &self.model_dir(i), &self.result_dir(i));
        }
        self.collect()?;
        Ok(())
    }

    /// Appends this process's stage times to `results/runs.jsonl` (one line, under a lock: many
    /// jobs of a cluster sweep append to it).
    fn log_run(&self, stage: Stage, cell: Option<usize>, total: f64) -> Result<(), CliError> {
        let run = serde_json::json!({
            "git_commit": git_commit(),
            "finished_unix": unix_now(),
            "stage": stage_name(stage),
            "cell": cell.map(|i| self.grid[i].name()),
            "grid": self.grid.iter().map(Cell::name).collect::<Vec<_>>(),
            "stages": self.stages.0.iter().map(|(n, s)| serde_json::json!({ "stage": n, "seconds": s })).collect::<Vec<_>>(),
            "total_s": total,
        });
        let results = &self.cmd.results;
        std::fs::create_dir_all(results).map_err(|e| CliError::io(results.display(), e))?;
        let log = results.join("runs.jsonl");
        let _lock = Lock::acquire(&results.join(".runs.lock"), |_| {}).map_err(|e| CliError::io(log.display(), e))?;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&log).map_err(|e| CliError::io(log.display(), e))?;
        std::io::Write::write_all(&mut f, format!("{run}\n").as_bytes()).map_err(|e| CliError::io(log.display(), e))?;
        Ok(())
    }
}

/// One checkpoint a cell evaluates and where its results go.
struct Target {
    model: PathBuf,
    results: PathBuf,
    /// What the results' `config.identity` must say to count as current.
    identity: String,
    /// The snapshot's step; None for the kept (best-validation) checkpoint.
    step: Option<usize>,
}

/// The results of every model's snapshot at `step`: `<results>/step-<step>/`.
pub(crate) fn step_results(results: &std::path::Path, step: usize) -> PathBuf {
    results.join(format!("step-{step}"))
}

fn stage_name(stage: Stage) -> String {
    format!("{stage:?}").to_lowercase()
}

/// The lock of one cell's training or evaluation (`DIR/.lock`); says who holds it while waiting.
fn cell_lock(dir: &std::path::Path, what: &str) -> Result<Lock, CliError> {
    let path = dir.join(".lock");
    Lock::acquire(&path, |holder| eprintln!("{what}: waiting for the lock {} held by {holder}", path.display())).map_err(|e| CliError::io(path.display(), e))
}

pub fn sweep(cmd: SweepCmd) -> Result<(), CliError> {
    let started = Instant::now();
    let stage = cmd.stage;
    let require_complete = cmd.require_complete;
    let mut s = Sweep::open(cmd)?;
    let mut cell = None;
    match stage {
        Stage::List => {
            for i in 0..s.grid.len() {
                println!("{i}\t{}\t{}", s.grid[i].name(), s.state(i));
            }
            return Ok(());
        }
        Stage::All => s.run_all()?,
        Stage::Prepare => s.prepare()?,
        Stage::Train => {
            let i = s.selected_cell()?;
            cell = Some(i);
            s.guarded(i, "train", |s| s.train_cell(i))?;
        }
        Stage::Eval => {
            let i = s.selected_cell()?;
            cell = Some(i);
            if s.cmd.no_eval {
                return Err(CliError::Usage("--stage eval with --no-eval does nothing".into()));
            }
            s.guarded(i, "eval", |s| s.eval_cell(i, None))?;
        }
        Stage::Collect => {
            let states = s.collect()?;
            let mut incomplete = 0;
            for (i, state) in states.iter().enumerate() {
                println!("{i}\t{}\t{state}", s.grid[i].name());
                incomplete += usize::from(*state != CellState::Done);
            }
            eprintln!("collect: {} of {} cells done; {} written", states.len() - incomplete, states.len(), s.cmd.results.join("sweep.json").display());
            if require_complete && incomplete > 0 {
                return Err(CliError::Usage(format!("{incomplete} of {} cells are not done (listed above)", states.len())));
            }
        }
    }
    let total = started.elapsed().as_secs_f64();
    s.log_run(stage, cell, total)?;
    eprintln!("sweep: {total:.0} s in this run; stages appended to {}", s.cmd.results.join("runs.jsonl").display());
    Ok(())
}

/// Runs the `--after-cell` command; a failure is reported (the cell's files are already
/// written) and the sweep goes on.
fn after_cell(cmd: &SweepCmd, cell: &Cell, model_dir: &std::path::Path, result_dir: &std::path::Path) {
    let Some(script) = &cmd.after_cell else { return };
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("HYBRID_IR_CELL", cell.name())
        .env("HYBRID_IR_CELL_MODEL", model_dir)
        .env("HYBRID_IR_CELL_RESULTS", result_dir)
        .env("HYBRID_IR_SWEEP_MODELS", &cmd.models)
        .env("HYBRID_IR_SWEEP_RESULTS", &cmd.results)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => eprintln!("warning: --after-cell for {} exited with {s}; its results are in {}", cell.name(), result_dir.display()),
        Err(e) => eprintln!("warning: --after-cell for {} could not start: {e}", cell.name()),
    }
}
