//! `hybrid-ir train` (one checkpoint) and `hybrid-ir sweep` (alpha x seed checkpoints, then every
//! checkpoint evaluated on every task into one results file).

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::eval::{cache_dir, embed_shared_trunk, git_commit, print_counts};
use super::{load_checkpoint, load_encoder, progress_bar, CliError, ModelArgs};
use crate::encoder::{BackendKind, Encoder};
use crate::model::{load_delta_dir, BertLayer, Checkpoint, DeltaManifest};
use crate::report::{self, EvalOptions, Report, TaskReport};
use crate::tasks::{self, TaskKind};
use crate::tokenize::Role;
use crate::train::{prepare, Prepared, Run, TrainConfig, TrainEvent};

/// Hyper-parameters shared by `train` and `sweep` (see `TrainConfig` for the defaults' reasons).
#[derive(clap::Args, Debug, Clone)]
pub struct TrainArgs {
    /// Data folder (default: $HYBRID_IR_DATA or ../shared/data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Transformer layers trained, from the top (the rest are frozen and computed once).
    #[arg(long, default_value_t = 2)]
    train_layers: usize,
    /// Pairs per training batch.
    #[arg(long, default_value_t = 32)]
    train_batch_size: usize,
    #[arg(long, default_value_t = 300)]
    steps: usize,
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    #[arg(long, default_value_t = 0.01)]
    weight_decay: f64,
    #[arg(long, default_value_t = 30)]
    warmup_steps: usize,
    #[arg(long, default_value_t = 0.05)]
    temperature: f64,
    /// Global gradient-norm clip (0 = off).
    #[arg(long, default_value_t = 1.0)]
    clip_norm: f64,
    /// Validate and save the resume state every N steps.
    #[arg(long, default_value_t = 25)]
    eval_every: usize,
    /// Stop after N validations without improvement.
    #[arg(long, default_value_t = 4)]
    patience: usize,
    #[arg(long, default_value_t = 8)]
    valid_batches: usize,
    /// Only the first N training questions (0 = all), for smoke runs.
    #[arg(long, default_value_t = 0)]
    max_questions: usize,
    /// Backend of the trained layers: flex (CPU, default) or wgpu (GPU via Vulkan/Metal/DX12).
    #[arg(long, value_enum, default_value_t = BackendKind::Flex)]
    train_backend: BackendKind,
    #[command(flatten)]
    model: ModelArgs,
}

impl TrainArgs {
    fn config(&self, alpha: f64, seed: u64) -> TrainConfig {
        TrainConfig::new()
            .with_alpha(alpha)
            .with_seed(seed)
            .with_train_layers(self.train_layers)
            .with_batch_size(self.train_batch_size)
            .with_steps(self.steps)
            .with_lr(self.lr)
            .with_weight_decay(self.weight_decay)
            .with_warmup_steps(self.warmup_steps)
            .with_temperature(self.temperature)
            .with_clip_norm(self.clip_norm)
            .with_eval_every(self.eval_every)
            .with_patience(self.patience)
            .with_valid_batches(self.valid_batches)
            .with_max_questions(self.max_questions)
            .with_max_len_query(self.model.max_len_query)
            .with_max_len_passage(self.model.max_len_passage)
    }
}

#[derive(clap::Args, Debug)]
pub struct TrainCmd {
    /// Share of monolingual batches (1 = X-X mono, 0 = X-Y cross-lingual).
    #[arg(long, default_value_t = 0.5)]
    alpha: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Checkpoint folder; rerunning with the same folder resumes an interrupted run.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    args: TrainArgs,
}

#[derive(clap::Args, Debug)]
pub struct SweepCmd {
    #[arg(long, value_delimiter = ',', default_value = "0,0.25,0.5,0.75,1")]
    alphas: Vec<f64>,
    #[arg(long, value_delimiter = ',', default_value = "1")]
    seeds: Vec<u64>,
    /// Checkpoints go to DIR/alpha-<a>-seed-<s>/.
    #[arg(long, default_value = "models/sweep")]
    models: PathBuf,
    /// Results file and per-checkpoint reports.
    #[arg(long, default_value = "results/sweep")]
    results: PathBuf,
    /// Tasks every checkpoint is evaluated on (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "xquad-r-heldout,mlqa-r,mkqa")]
    tasks: Vec<String>,
    /// Bootstrap resamples for the 95% intervals.
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
    /// Train only; skip the evaluation.
    #[arg(long)]
    no_eval: bool,
    /// Embedding cache folder (default: $HYBRID_IR_CACHE/embeddings or ~/.cache/hybrid-ir/embeddings).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    #[command(flatten)]
    args: TrainArgs,
}

/// Checkpoint folder name of one sweep cell.
pub fn cell_name(alpha: f64, seed: u64) -> String {
    format!("alpha-{alpha}-seed-{seed}")
}

fn prepare_logged(encoder: &Encoder, data: &Path, config: &TrainConfig) -> Result<Prepared, CliError> {
    let t0 = Instant::now();
    let mut bar: Option<super::encode::Progress> = None;
    let mut last = 0;
    let prepared = prepare(encoder, data, config, |e| {
        if let TrainEvent::Features { done, total } = e {
            bar.get_or_insert_with(|| progress_bar(total, "trunk features")).inc((done - last) as u64);
            last = done;
        }
    })
    .map_err(|e| CliError::Usage(e.to_string()))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let bytes = prepared.train_q.bytes() + prepared.train_p.bytes() + prepared.valid_q.bytes() + prepared.valid_p.bytes();
    eprintln!(
        "training pairs: {} training / {} validation questions x {} languages; trunk = layers 0..{} ({:.0} MB of features) in {:.1} s",
        prepared.train.len(),
        prepared.valid.len(),
        prepared.train.langs.len(),
        prepared.split,
        bytes as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );
    Ok(prepared)
}

fn train_one(base: &Checkpoint, prepared: &Prepared, config: &TrainConfig, args: &TrainArgs, out: &Path) -> Result<DeltaManifest, CliError> {
    let run = Run {
        base,
        prepared,
        config,
        device: args.train_backend.device()?,
        out: out.to_path_buf(),
        git_commit: git_commit(),
    };
    if run.is_complete() {
        eprintln!("{}: already trained with this configuration; skipping", out.display());
        let (_, m) = load_delta_dir(base, out).map_err(|e| CliError::Usage(e.to_string()))?;
        return Ok(m);
    }
    let mut bar = progress_bar(config.steps, &format!("alpha {} seed {}", config.alpha, config.seed));
    let t0 = Instant::now();
    let mut first_step = 0;
    let (mut last_loss, mut last_valid) = (f64::NAN, f64::NAN);
    let manifest = run
        .run(|e| match e {
            TrainEvent::Resumed { step } => {
                first_step = step;
                bar.inc(step as u64);
                eprintln!("resuming {} at step {step}", out.display());
            }
            TrainEvent::Step { step, loss, lr, .. } => {
                last_loss = loss;
                bar.inc(1);
                let rate = (step - first_step) as f64 / t0.elapsed().as_secs_f64().max(1e-9);
                bar.message(format!(
                    "alpha {} seed {} | step {step} loss {last_loss:.4} valid {last_valid:.4} lr {lr:.1e} | {rate:.2} steps/s",
                    config.alpha, config.seed
                ));
            }
            TrainEvent::Valid { step, loss, best, improved } => {
                last_valid = loss;
                eprintln!("step {step}: valid loss {loss:.4} (best {best:.4}){}", if improved { " *" } else { "" });
            }
            TrainEvent::EarlyStop { step } => eprintln!("early stop at step {step}: no validation improvement"),
            TrainEvent::Features { .. } => {}
        })
        .map_err(|e| CliError::Usage(e.to_string()))?;
    bar.finish_and_clear();
    eprintln!(
        "{}: {} steps in {:.1} s, best valid loss {:.4} at step {} ({} bytes)",
        out.display(),
        manifest.steps,
        manifest.train_seconds,
        manifest.best_valid_loss,
        manifest.best_step,
        manifest.weights_bytes
    );
    Ok(manifest)
}

pub fn train(cmd: TrainCmd) -> Result<(), CliError> {
    let data = crate::sources::data_root(cmd.args.data.as_deref());
    let config = cmd.args.config(cmd.alpha, cmd.seed);
    let encoder = load_encoder(&cmd.args.model)?;
    let base = load_checkpoint(&cmd.args.model.model)?;
    let prepared = prepare_logged(&encoder, &data, &config)?;
    train_one(&base, &prepared, &config, &cmd.args, &cmd.out)?;
    Ok(())
}

/// One evaluated model of the sweep.
#[derive(serde::Serialize)]
struct SweepEntry {
    name: String,
    alpha: Option<f64>,
    seed: Option<u64>,
    checkpoint: Option<DeltaManifest>,
    report: Report,
}

#[derive(serde::Serialize)]
struct SweepResults {
    schema: &'static str,
    version: u32,
    git_commit: String,
    base_sha256: String,
    train_config: serde_json::Value,
    timings: serde_json::Value,
    entries: Vec<SweepEntry>,
}

pub fn sweep(cmd: SweepCmd) -> Result<(), CliError> {
    let t_start = Instant::now();
    let data = crate::sources::data_root(cmd.args.data.as_deref());
    if cmd.alphas.is_empty() || cmd.seeds.is_empty() {
        return Err(CliError::Usage("--alphas and --seeds need at least one value each".into()));
    }
    let kinds = cmd
        .tasks
        .iter()
        .map(|t| {
            let sel = TaskKind::parse_selection(t).map_err(CliError::Usage)?;
            Ok(sel.0)
        })
        .collect::<Result<Vec<_>, CliError>>()?
        .concat();
    let encoder = load_encoder(&cmd.args.model)?;
    let base = load_checkpoint(&cmd.args.model.model)?;
    let config0 = cmd.args.config(cmd.alphas[0], cmd.seeds[0]);
    let prepared = prepare_logged(&encoder, &data, &config0)?;
    let t_prepared = t_start.elapsed().as_secs_f64();
    let mut cells = Vec::new();
    for &seed in &cmd.seeds {
        for &alpha in &cmd.alphas {
            let config = cmd.args.config(alpha, seed);
            let out = cmd.models.join(cell_name(alpha, seed));
            let manifest = train_one(&base, &prepared, &config, &cmd.args, &out)?;
            cells.push((alpha, seed, out, manifest));
        }
    }
    let t_trained = t_start.elapsed().as_secs_f64();
    drop(prepared);
    write_models_manifest(&cmd.models, &base, &cells)?;
    if cmd.no_eval {
        return Ok(());
    }

    // Every checkpoint shares the frozen trunk: run it once per text, then each checkpoint's top.
    let split = base.config.num_layers - cmd.args.train_layers;
    let base_bert = &encoder.bert;
    let mut models: Vec<(String, Option<(f64, u64, DeltaManifest)>, String, Vec<BertLayer>)> =
        vec![("base".into(), None, base.sha256.clone(), base_bert.layers[split..].to_vec())];
    for (alpha, seed, out, manifest) in &cells {
        let (ckpt, m) = load_delta_dir(&base, out).map_err(|e| CliError::Usage(e.to_string()))?;
        if m.layers.first().copied().unwrap_or(0) < split {
            return Err(CliError::Usage(format!("{} trained layers below the trunk split {split}", out.display())));
        }
        let bert = ckpt.config.init_with(&ckpt.weights, &encoder.device).map_err(crate::encoder::EncodeError::from)?;
        models.push((cell_name(*alpha, *seed), Some((*alpha, *seed, manifest.clone())), ckpt.sha256.clone(), bert.layers[split..].to_vec()));
    }
    let cache = cache_dir(cmd.cache_dir.as_ref());
    let device = BackendKind::Flex.device()?;
    let mut reports: Vec<Vec<TaskReport>> = vec![Vec::new(); models.len()];
    for kind in kinds {
        let task = tasks::load_task(kind, &data).map_err(|e| CliError::Usage(e.to_string()))?;
        print_counts(&task);
        let q_texts: Vec<&str> = task.queries.iter().map(|q| q.text.as_str()).collect();
        let p_texts: Vec<&str> = task.pool.iter().map(|c| c.text.as_str()).collect();
        let shared: Vec<(String, String, Vec<BertLayer>)> =
            models.iter().map(|(name, _, sha, layers)| (name.clone(), sha.clone(), layers.clone())).collect();
        let queries = embed_shared_trunk(&encoder, &cache, &shared, split, &q_texts, Role::Query, task.kind.name())?;
        let pool = embed_shared_trunk(&encoder, &cache, &shared, split, &p_texts, Role::Passage, task.kind.name())?;
        let mut vectors: Vec<[Vec<f32>; 2]> = Vec::new();
        let mut secs = vec![[0f64; 2]; models.len()];
        for (m, ((qv, qs), (pv, ps))) in queries.into_iter().zip(pool).enumerate() {
            vectors.push([qv, pv]);
            secs[m] = [qs, ps];
        }
        let opts = EvalOptions { bootstrap_samples: cmd.bootstrap, seed: 1, ..Default::default() };
        for (m, [qv, pv]) in vectors.iter().enumerate() {
            let (mut rep, _) = report::evaluate_task(&task, qv, pv, encoder.dim(), &device, &opts, |_| {}).map_err(CliError::Usage)?;
            rep.timings.embed_queries_s = secs[m][0];
            rep.timings.embed_pool_s = secs[m][1];
            eprintln!(
                "{} {}: mAP mono {:.4} cross {:.4} multi {:.4}",
                models[m].0, rep.task, rep.macro_avg.mono.map, rep.macro_avg.cross.map, rep.macro_avg.multi.map
            );
            reports[m].push(rep);
        }
    }
    let t_evaluated = t_start.elapsed().as_secs_f64();

    std::fs::create_dir_all(&cmd.results).map_err(|e| CliError::io(cmd.results.display(), e))?;
    let mut entries = Vec::new();
    let commit = git_commit();
    for ((name, cell, sha, _), tasks) in models.into_iter().zip(reports) {
        let report = Report {
            schema: report::REPORT_SCHEMA.into(),
            version: report::REPORT_VERSION,
            crate_version: env!("CARGO_PKG_VERSION").into(),
            git_commit: commit.clone(),
            created_unix: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            model: report::ModelInfo { source: name.clone(), sha256: sha },
            config: serde_json::json!({ "backend": "flex", "bootstrap": cmd.bootstrap, "trunk_split": split,
                "max_len_query": cmd.args.model.max_len_query, "max_len_passage": cmd.args.model.max_len_passage,
                "data": data.display().to_string() }),
            seed: 1,
            tasks,
        };
        let dir = cmd.results.join(&name);
        std::fs::create_dir_all(&dir).map_err(|e| CliError::io(dir.display(), e))?;
        for t in &report.tasks {
            let csv = dir.join(format!("{}.csv", t.task));
            std::fs::write(&csv, report::csv_table(t)).map_err(|e| CliError::io(csv.display(), e))?;
        }
        let (alpha, seed, checkpoint) = match cell {
            Some((a, s, m)) => (Some(a), Some(s), Some(m)),
            None => (None, None, None),
        };
        entries.push(SweepEntry { name, alpha, seed, checkpoint, report });
    }
    let results = SweepResults {
        schema: "hybrid-ir/sweep",
        version: 1,
        git_commit: commit,
        base_sha256: base.sha256.clone(),
        train_config: serde_json::to_value(cmd.args.config(f64::NAN, 0)).unwrap_or_default(),
        timings: serde_json::json!({ "prepare_s": t_prepared, "train_s": t_trained - t_prepared,
            "evaluate_s": t_evaluated - t_trained, "total_s": t_start.elapsed().as_secs_f64() }),
        entries,
    };
    print!("{}", sweep_table(&results));
    let text = serde_json::to_string_pretty(&results).map_err(|e| CliError::Usage(e.to_string()))?;
    let path = cmd.results.join("sweep.json");
    crate::train::write_atomic(&path, text.as_bytes()).map_err(|e| CliError::Usage(e.to_string()))?;
    std::fs::write(cmd.results.join("sweep.csv"), sweep_csv(&results)).map_err(|e| CliError::io(cmd.results.display(), e))?;
    eprintln!(
        "sweep: prepare {:.0} s, train {:.0} s, evaluate {:.0} s, total {:.0} s; wrote {}",
        t_prepared,
        t_trained - t_prepared,
        t_evaluated - t_trained,
        t_start.elapsed().as_secs_f64(),
        path.display()
    );
    Ok(())
}

fn rows(r: &SweepResults) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for e in &r.entries {
        for t in &e.report.tasks {
            let ci = |c: Option<(f64, f64)>| c.map(|(a, b)| format!("{:.1}-{:.1}", 100.0 * a, 100.0 * b)).unwrap_or_default();
            out.push(vec![
                e.name.clone(),
                e.alpha.map(|a| a.to_string()).unwrap_or_else(|| "base".into()),
                t.task.clone(),
                format!("{:.1}", 100.0 * t.macro_avg.mono.map),
                format!("{:.1}", 100.0 * t.macro_avg.cross.map),
                format!("{:.1}", 100.0 * t.macro_avg.multi.map),
                ci(t.macro_avg.multi_map_ci95),
                format!("{:.0}", t.bias.mean),
            ]);
        }
    }
    out
}

fn sweep_table(r: &SweepResults) -> String {
    let mut s = format!("{:<22} {:>5} {:<16} {:>6} {:>6} {:>6} {:>12} {:>7}\n", "model", "alpha", "task", "mono", "cross", "multi", "multi 95% CI", "bias");
    for row in rows(r) {
        s += &format!("{:<22} {:>5} {:<16} {:>6} {:>6} {:>6} {:>12} {:>7}\n", row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7]);
    }
    s
}

fn sweep_csv(r: &SweepResults) -> String {
    let mut s = "model,alpha,task,mono_map,cross_map,multi_map,multi_map_ci95,bias\n".to_string();
    for row in rows(r) {
        s += &(row.join(",") + "\n");
    }
    s
}

/// `models/<sweep>/manifest.json`: every checkpoint of the sweep with the hashes a consumer (the
/// web page, a user downloading them) checks before trusting the files.
fn write_models_manifest(dir: &Path, base: &Checkpoint, cells: &[(f64, u64, PathBuf, DeltaManifest)]) -> Result<(), CliError> {
    let checkpoints: Vec<serde_json::Value> = cells
        .iter()
        .map(|(alpha, seed, out, m)| {
            let manifest_path = out.join(crate::model::DELTA_MANIFEST);
            let manifest_bytes = std::fs::read(&manifest_path).map_err(|e| CliError::io(manifest_path.display(), e))?;
            Ok(serde_json::json!({
                "name": cell_name(*alpha, *seed),
                "alpha": alpha,
                "seed": seed,
                "layers": m.layers,
                "weights": format!("{}/{}", cell_name(*alpha, *seed), crate::model::DELTA_WEIGHTS),
                "weights_sha256": m.weights_sha256,
                "weights_bytes": m.weights_bytes,
                "manifest": format!("{}/{}", cell_name(*alpha, *seed), crate::model::DELTA_MANIFEST),
                "manifest_sha256": crate::model::sha256_hex(&manifest_bytes),
                "best_valid_loss": m.best_valid_loss,
                "best_step": m.best_step,
            }))
        })
        .collect::<Result<_, CliError>>()?;
    let doc = serde_json::json!({
        "schema": "hybrid-ir/checkpoints",
        "version": 1,
        "base": { "file": "../base/e5-small-q4.bin", "sha256": base.sha256, "fetch": "scripts/fetch-model" },
        "checkpoints": checkpoints,
    });
    let text = serde_json::to_string_pretty(&doc).map_err(|e| CliError::Usage(e.to_string()))?;
    crate::train::write_atomic(&dir.join("manifest.json"), text.as_bytes()).map_err(|e| CliError::Usage(e.to_string()))
}
