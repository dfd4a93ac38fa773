//! `hybrid-ir train`: one checkpoint. The grid of them is `hybrid-ir sweep` (`sweep.rs`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::git_commit;
use super::{load_checkpoint, load_encoder, progress_bar, CliError, ModelArgs};
use crate::encoder::{BackendKind, Encoder, Origin, TrunkStore};
use crate::model::{load_delta_dir, Checkpoint, DeltaManifest};
use crate::train::{prepare_pairs, prepare_pairs_with, PairData, Prepared, Run, TrainConfig, TrainEvent};

/// Hyper-parameters shared by `train` and `sweep`; every default is `TrainConfig`'s (its doc says why).
#[derive(clap::Args, Debug, Clone)]
pub struct TrainArgs {
    /// Data folder (default: $HYBRID_IR_DATA or ../shared/data).
    #[arg(long)]
    pub(crate) data: Option<PathBuf>,
    /// Transformer layers trained, from the top (the rest are frozen and computed once).
    #[arg(long, default_value_t = TrainConfig::new().train_layers)]
    pub(crate) train_layers: usize,
    /// Pairs per training batch.
    #[arg(long, default_value_t = TrainConfig::new().batch_size)]
    train_batch_size: usize,
    #[arg(long, default_value_t = TrainConfig::new().steps)]
    steps: usize,
    #[arg(long, default_value_t = TrainConfig::new().lr)]
    lr: f64,
    #[arg(long, default_value_t = TrainConfig::new().weight_decay)]
    weight_decay: f64,
    #[arg(long, default_value_t = TrainConfig::new().warmup_steps)]
    warmup_steps: usize,
    #[arg(long, default_value_t = TrainConfig::new().temperature)]
    temperature: f64,
    /// Global gradient-norm clip (0 = off).
    #[arg(long, default_value_t = TrainConfig::new().clip_norm)]
    clip_norm: f64,
    /// Validate and save the resume state every N steps.
    #[arg(long, default_value_t = TrainConfig::new().eval_every)]
    eval_every: usize,
    /// Stop after N validations without improvement (0 = never: train every step).
    #[arg(long, default_value_t = TrainConfig::new().patience)]
    patience: usize,
    /// Also keep the weights at these steps, each as a checkpoint in OUT/step-N/ (learning
    /// curves; multiples of --eval-every). They do not change training or its identity.
    #[arg(long, value_delimiter = ',')]
    pub(crate) snapshots: Vec<usize>,
    /// Validation batches (the same for every alpha and seed: half mono, half cross-lingual).
    #[arg(long, default_value_t = TrainConfig::new().valid_batches)]
    valid_batches: usize,
    /// Length-sorted sub-batches per side of a training batch (less padding; same loss).
    #[arg(long, default_value_t = TrainConfig::new().length_buckets)]
    length_buckets: usize,
    /// Only the first N training questions (0 = all), for smoke runs.
    #[arg(long, default_value_t = TrainConfig::new().max_questions)]
    max_questions: usize,
    /// Backend of the trained layers: flex (CPU, default) or wgpu (GPU via Vulkan/Metal/DX12).
    #[arg(long, value_enum, default_value_t = BackendKind::Flex)]
    train_backend: BackendKind,
    #[command(flatten)]
    pub(crate) model: ModelArgs,
}

impl TrainArgs {
    pub(crate) fn config(&self, alpha: f64, seed: u64) -> TrainConfig {
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
            .with_length_buckets(self.length_buckets)
    }
}

#[derive(clap::Args, Debug)]
pub struct TrainCmd {
    /// Share of monolingual batches (1 = X-X mono, 0 = X-Y cross-lingual).
    #[arg(long, default_value_t = TrainConfig::new().alpha)]
    alpha: f64,
    #[arg(long, default_value_t = TrainConfig::new().seed)]
    seed: u64,
    /// Checkpoint folder; rerunning with the same folder resumes an interrupted run.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    args: TrainArgs,
}

fn prepare_logged(encoder: &Encoder, data: &Path, config: &TrainConfig) -> Result<Prepared, CliError> {
    let pairs = PairData::load(data, config)?;
    prepare_logged_pairs(encoder, pairs, config, None)
}

/// Trunk features of the training pairs (from `store` when it holds them), with a progress bar
/// and a summary line.
pub(crate) fn prepare_logged_pairs(encoder: &Encoder, pairs: PairData, config: &TrainConfig, store: Option<&TrunkStore>) -> Result<Prepared, CliError> {
    let t0 = Instant::now();
    let mut bar: Option<super::encode::Progress> = None;
    let mut last = 0;
    let event = |e| {
        if let TrainEvent::Features { done, total } = e {
            bar.get_or_insert_with(|| progress_bar(total, "trunk features")).inc((done - last) as u64);
            last = done;
        }
    };
    let prepared = match store {
        None => prepare_pairs(encoder, pairs, config, event)?,
        Some(store) => prepare_pairs_with(encoder.bert.layers.len(), pairs, config, event, |texts, role, split, progress| {
            let (features, origin) = store.features(encoder, texts, role, split, progress)?;
            if let Origin::Replaced(why) = origin {
                eprintln!("warning: stored trunk features of the training pairs were unreadable ({why}); computed again");
            }
            Ok(features)
        })?,
    };
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

pub(crate) fn train_one(base: &Checkpoint, prepared: &Prepared, config: &TrainConfig, args: &TrainArgs, out: &Path) -> Result<DeltaManifest, CliError> {
    let run = Run {
        base,
        prepared,
        config,
        device: args.train_backend.device()?,
        out: out.to_path_buf(),
        git_commit: git_commit(),
        snapshots: args.snapshots.clone(),
    };
    if run.is_complete() {
        eprintln!("{}: already trained with this configuration; skipping", out.display());
        let (_, m) = load_delta_dir(base, out)?;
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
            TrainEvent::Restarted { step, was } => {
                eprintln!("{}: its saved state (step {step}) was written by other training code ({was}); starting over", out.display());
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
        })?;
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
