//! Hybrid-batch contrastive fine-tuning (native, Burn autodiff).
//!
//! Pipeline: XQuAD-R training pairs -> frozen trunk features (computed once) -> hybrid(alpha)
//! batch schedule -> InfoNCE on the top K layers with AdamW -> best-validation delta checkpoint.
//! Every piece is a function of the seed, and the loop state is saved atomically at each
//! validation, so a killed run resumes to the same weights.

mod loss;
mod optim;
mod pairs;
mod sampler;
mod state;

pub use loss::info_nce;
pub use optim::{export_params, import_params, AdamW};
pub use pairs::{read_training_files, split_validation, training_pairs, PairSet, TrainQuestion};
pub use sampler::{distinct_groups, hybrid_schedule, validation_schedule, Batch, Pair};
pub use state::{write_atomic, Progress, State, STATE_FILE};
pub use crate::model::CodeVersions;

/// Version of the training computation: sampler, loss, optimiser, loop, checkpoint rounding.
/// Bump it with any change that moves the trained weights for the same seed. 1: the code that
/// trained the first grid.
pub const TRAINING_VERSION: u32 = 1;

/// This build's versions: what a checkpoint trained now records, and what a saved state or
/// checkpoint must carry to be resumed or reused.
pub const CODE_VERSIONS: CodeVersions = CodeVersions { training: TRAINING_VERSION, pipeline: crate::encoder::PIPELINE_VERSION };

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use thiserror::Error;

use crate::encoder::{mean_pool_normalize, EncodeError, Encoder, Features};
use crate::model::{
    export_layer, run_layers, write_delta, BertLayer, Checkpoint, DeltaManifest, ModelError, DELTA_MANIFEST, DELTA_SCHEMA,
    DELTA_VERSION, DELTA_WEIGHTS,
};
use crate::sources::{FileChecksum, SourceError};
use crate::tokenize::Role;

#[derive(Debug, Error)]
pub enum TrainError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("training data: {0}")]
    Data(String),
    #[error("invalid training configuration: {0}")]
    Config(String),
    #[error("training state: {0}")]
    State(String),
    #[error("tensor readback: {0}")]
    Tensor(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl TrainError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        TrainError::Io { path: path.display().to_string(), source }
    }
}

/// Training hyper-parameters; `TrainConfig::new().with_alpha(0.25)`.
///
/// CPU defaults (the paper used batch 100, lr 3e-5, full fine-tuning on an A100): the top 2 of 12
/// layers on cached trunk features keep a step near a second on 2 cores and the checkpoint at
/// 7 MB; with only 2 layers moving, a larger learning rate (1e-4) converges within the few
/// hundred steps a 5-alpha sweep can afford; batch 32 keeps 31 in-batch negatives per query.
#[derive(burn::config::Config, Debug, PartialEq)]
pub struct TrainConfig {
    /// Probability that a batch is monolingual (1 = X-X mono, 0 = X-Y cross).
    #[config(default = 0.5)]
    pub alpha: f64,
    #[config(default = 1)]
    pub seed: u64,
    /// Trained transformer layers, counted from the top; the rest stay frozen (12 = all).
    #[config(default = 2)]
    pub train_layers: usize,
    /// Pairs per batch.
    #[config(default = 32)]
    pub batch_size: usize,
    #[config(default = 300)]
    pub steps: usize,
    #[config(default = 1e-4)]
    pub lr: f64,
    #[config(default = 0.01)]
    pub weight_decay: f64,
    /// Linear warm-up steps, then linear decay to zero at `steps`.
    #[config(default = 30)]
    pub warmup_steps: usize,
    #[config(default = 0.05)]
    pub temperature: f64,
    /// Global gradient-norm clip (0 = off).
    #[config(default = 1.0)]
    pub clip_norm: f64,
    /// Validate (and save the resume state) every this many steps.
    #[config(default = 25)]
    pub eval_every: usize,
    /// Stop after this many validations without improvement (0 = never: a fixed budget).
    #[config(default = 4)]
    pub patience: usize,
    /// Validation batches: the same for every alpha and seed (half monolingual, half
    /// cross-lingual, constant seed), so early stopping uses one criterion across a study.
    #[config(default = 8)]
    pub valid_batches: usize,
    /// Every n-th training article is the validation slice.
    #[config(default = 8)]
    pub valid_every_article: usize,
    /// Use only the first n training questions (0 = all): tiny runs for tests.
    #[config(default = 0)]
    pub max_questions: usize,
    #[config(default = "crate::tokenize::Role::Query.default_max_len()")]
    pub max_len_query: usize,
    #[config(default = "crate::tokenize::Role::Passage.default_max_len()")]
    pub max_len_passage: usize,
    /// Each side of a batch runs as this many length-sorted sub-batches, each padded only to
    /// its own longest text (same loss up to float rounding, less padding to compute; 4 runs
    /// the K = 2 step 1.7x faster than 1 on 2 cores, `cargo bench --bench train_step`).
    #[config(default = 4)]
    pub length_buckets: usize,
}

impl TrainConfig {
    pub fn validate(&self, num_layers: usize) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Config(m));
        if !(0.0..=1.0).contains(&self.alpha) {
            return bad(format!("alpha is {}; it must be between 0 and 1", self.alpha));
        }
        if self.train_layers == 0 || self.train_layers > num_layers {
            return bad(format!("train_layers is {}; it must be between 1 and {num_layers}", self.train_layers));
        }
        if self.batch_size < 2 {
            return bad("batch_size must be at least 2 (in-batch negatives)".into());
        }
        if self.steps == 0 || self.eval_every == 0 {
            return bad("steps and eval_every must be positive".into());
        }
        if self.temperature <= 0.0 || self.lr <= 0.0 {
            return bad("temperature and lr must be positive".into());
        }
        if self.length_buckets == 0 || self.length_buckets > self.batch_size {
            return bad(format!("length_buckets is {}; it must be between 1 and the batch size", self.length_buckets));
        }
        Ok(())
    }
}

/// What the loop reports as it goes (the CLI draws its progress bar from these).
#[derive(Debug, Clone)]
pub enum TrainEvent {
    /// Trunk features: texts done of total.
    Features { done: usize, total: usize },
    /// Resumed from a saved state at this step.
    Resumed { step: usize },
    /// A saved state at `step` was written by other training code (`was`) and was discarded:
    /// the run starts from step 0.
    Restarted { step: usize, was: CodeVersions },
    Step { step: usize, total: usize, loss: f64, lr: f64 },
    Valid { step: usize, loss: f64, best: f64, improved: bool },
    EarlyStop { step: usize },
}

/// Training pairs plus their trunk features: computed once, shared by every run of a sweep.
pub struct Prepared {
    pub train: PairSet,
    pub valid: PairSet,
    pub data: Vec<FileChecksum>,
    /// Index `q * langs + l` = question `q` in language `l`.
    pub train_q: Features,
    pub train_p: Features,
    pub valid_q: Features,
    pub valid_p: Features,
    /// Trunk depth: layers `[0, split)` are frozen.
    pub split: usize,
}

/// The training and validation pairs a configuration uses, and the data files they came
/// from: cheap (no encoder), so a sweep can tell which runs are finished before paying for
/// features.
pub struct PairData {
    pub train: PairSet,
    pub valid: PairSet,
    pub data: Vec<FileChecksum>,
}

impl PairData {
    pub fn load(data: &Path, config: &TrainConfig) -> Result<PairData, TrainError> {
        let (files, checksums) = read_training_files(data)?;
        let all = training_pairs(&files)?;
        let (mut train, mut valid) = split_validation(&all, config.valid_every_article);
        if config.max_questions > 0 {
            train = train.truncate(config.max_questions);
            valid = valid.truncate(config.max_questions.max(config.batch_size));
        }
        // Validation batches may be smaller than training ones (at most one question per group).
        for (name, set, need) in [("training", &train, config.batch_size), ("validation", &valid, 2)] {
            let groups = distinct_groups(&set.positive_groups());
            if groups < need {
                return Err(TrainError::Data(format!(
                    "{} {name} questions in {groups} groups of distinct answer sentences, fewer than the {need} a batch needs",
                    set.len(),
                )));
            }
        }
        Ok(PairData { train, valid, data: checksums })
    }

    /// Identity of a run on these pairs: configuration, base model, trunk depth, data. A saved
    /// state or checkpoint with another fingerprint belongs to another run.
    pub fn fingerprint(&self, config: &TrainConfig, base_sha256: &str, split: usize) -> String {
        run_fingerprint(config, base_sha256, split, &self.data, self.train.len())
    }
}

/// The run's identity: configuration, base model, data and the versions of the code that
/// computes it ([`CODE_VERSIONS`]), so a checkpoint made by other training code is never
/// taken for this run's.
fn run_fingerprint(config: &TrainConfig, base_sha256: &str, split: usize, data: &[FileChecksum], train_len: usize) -> String {
    fingerprint_with(config, base_sha256, split, data, train_len, CODE_VERSIONS)
}

fn fingerprint_with(config: &TrainConfig, base_sha256: &str, split: usize, data: &[FileChecksum], train_len: usize, v: CodeVersions) -> String {
    let config = serde_json::to_string(config).unwrap_or_default();
    crate::model::sha256_hex(
        format!("{config}|{base_sha256}|{split}|{data:?}|{train_len}|training {}|pipeline {}", v.training, v.pipeline).as_bytes(),
    )
}

/// Loads the pairs from `data/xquad-r` and computes trunk features with the base encoder.
pub fn prepare(
    encoder: &Encoder,
    data: &Path,
    config: &TrainConfig,
    event: impl FnMut(TrainEvent),
) -> Result<Prepared, TrainError> {
    config.validate(encoder.bert.layers.len())?;
    prepare_pairs(encoder, PairData::load(data, config)?, config, event)
}

/// Trunk features of already loaded pairs.
pub fn prepare_pairs(encoder: &Encoder, pairs: PairData, config: &TrainConfig, event: impl FnMut(TrainEvent)) -> Result<Prepared, TrainError> {
    prepare_pairs_with(encoder.bert.layers.len(), pairs, config, event, |texts, role, split, progress| {
        encoder.features(texts, role, split, progress)
    })
}

/// [`prepare_pairs`] with the trunk features of each text list from `features(texts, role,
/// split, progress)`: the encoder itself, or a store that computed them earlier (a sweep's
/// `prepare` stage).
pub fn prepare_pairs_with(
    num_layers: usize,
    pairs: PairData,
    config: &TrainConfig,
    mut event: impl FnMut(TrainEvent),
    mut features: impl FnMut(&[&str], Role, usize, &mut dyn FnMut(usize)) -> Result<Features, crate::encoder::EncodeError>,
) -> Result<Prepared, TrainError> {
    config.validate(num_layers)?;
    let PairData { train, valid, data: checksums } = pairs;
    let split = num_layers - config.train_layers;
    let total = 2 * (train.len() + valid.len()) * train.langs.len();
    let mut done = 0;
    let mut feats = |set: &PairSet, role: Role| -> Result<Features, TrainError> {
        let texts: Vec<&str> = set
            .questions
            .iter()
            .flat_map(|q| q.texts.iter().map(move |(qt, pt)| if role == Role::Query { qt.as_str() } else { pt.as_str() }))
            .collect();
        Ok(features(&texts, role, split, &mut |n| {
            done += n;
            event(TrainEvent::Features { done, total });
        })?)
    };
    let train_q = feats(&train, Role::Query)?;
    let train_p = feats(&train, Role::Passage)?;
    let valid_q = feats(&valid, Role::Query)?;
    let valid_p = feats(&valid, Role::Passage)?;
    Ok(Prepared { train, valid, data: checksums, train_q, train_p, valid_q, valid_p, split })
}

/// The trained part of the encoder.
#[derive(Module, Debug)]
pub struct TopLayers {
    pub layers: Vec<BertLayer>,
}

impl TopLayers {
    /// Embeddings of texts `idx` in that order, run as `buckets` length-sorted sub-batches.
    fn embed(&self, features: &Features, idx: &[usize], buckets: usize, device: &Device) -> burn::tensor::Tensor<2> {
        let mut order: Vec<usize> = (0..idx.len()).collect();
        order.sort_by_key(|&r| (features.tokens(idx[r]), r));
        let size = idx.len().div_ceil(buckets.max(1));
        let parts: Vec<burn::tensor::Tensor<2>> = order
            .chunks(size)
            .map(|rows| {
                let ids: Vec<usize> = rows.iter().map(|&r| idx[r]).collect();
                let (x, mask) = features.batch(&ids, device);
                mean_pool_normalize(run_layers(&self.layers, x, mask.clone()), mask)
            })
            .collect();
        if parts.len() == 1 && order.iter().enumerate().all(|(i, &r)| i == r) {
            return parts.into_iter().next().expect("one part");
        }
        // Back to batch order: row `r` of the result is sorted position `inverse[r]`.
        let mut inverse = vec![0i64; idx.len()];
        for (pos, &r) in order.iter().enumerate() {
            inverse[r] = pos as i64;
        }
        let inverse = burn::tensor::Tensor::<1, burn::tensor::Int>::from_data(burn::tensor::TensorData::new(inverse, [idx.len()]), device);
        burn::tensor::Tensor::cat(parts, 0).select(0, inverse)
    }

    fn batch_loss(&self, q: &Features, p: &Features, langs: usize, batch: &Batch, cfg: &TrainConfig, device: &Device) -> burn::tensor::Tensor<1> {
        let qi: Vec<usize> = batch.pairs.iter().map(|x| x.question * langs + x.query_lang).collect();
        let pi: Vec<usize> = batch.pairs.iter().map(|x| x.question * langs + x.positive_lang).collect();
        let b = cfg.length_buckets;
        info_nce(self.embed(q, &qi, b, device), self.embed(p, &pi, b, device), cfg.temperature)
    }
}

/// Learning rate at `step` (0-based): linear warm-up, then linear decay to zero.
pub fn lr_at(config: &TrainConfig, step: usize) -> f64 {
    let s = step as f64 + 1.0;
    let warm = config.warmup_steps as f64;
    if s <= warm {
        config.lr * s / warm
    } else {
        config.lr * ((config.steps as f64 - s + 1.0) / (config.steps as f64 - warm + 1.0)).max(0.0)
    }
}

/// One training run, resumable. Writes `out/layers.safetensors` + `out/manifest.json` (the
/// best-validation layers) and, while running, `out/train-state.safetensors`.
pub struct Run<'a> {
    pub base: &'a Checkpoint,
    pub prepared: &'a Prepared,
    pub config: &'a TrainConfig,
    /// Device for the trainable layers (autodiff is enabled on it here).
    pub device: Device,
    pub out: PathBuf,
    pub git_commit: String,
    /// Steps at which the weights of that moment are also kept, as a complete checkpoint in
    /// `out/step-<N>/` (learning curves at a fixed budget); each a multiple of the validation
    /// interval, or the last step. Not part of the run's identity: they do not change training.
    pub snapshots: Vec<usize>,
}

/// Folder of the snapshot at `step` inside a run's folder.
pub fn snapshot_dir(out: &Path, step: usize) -> PathBuf {
    out.join(format!("step-{step}"))
}

impl Run<'_> {
    fn fingerprint(&self) -> String {
        let p = self.prepared;
        run_fingerprint(self.config, &self.base.sha256, p.split, &p.data, p.train.len())
    }

    /// Whether `out` already holds the finished checkpoint of exactly this run, weights included
    /// (a manifest whose weights are gone, e.g. a git-ignored checkpoint in a fresh clone, is
    /// trained again).
    pub fn is_complete(&self) -> bool {
        let fingerprint = self.fingerprint();
        let complete_in = |dir: &Path| {
            let manifest = std::fs::read_to_string(dir.join(DELTA_MANIFEST))
                .ok()
                .and_then(|t| serde_json::from_str::<DeltaManifest>(&t).ok())
                .filter(|m| m.complete && m.fingerprint == fingerprint);
            let weights = std::fs::read(dir.join(DELTA_WEIGHTS)).ok();
            matches!((manifest, weights), (Some(m), Some(w)) if crate::model::sha256_hex(&w) == m.weights_sha256)
        };
        complete_in(&self.out) && self.snapshots.iter().all(|&s| complete_in(&snapshot_dir(&self.out, s)))
    }

    fn check_snapshots(&self) -> Result<(), TrainError> {
        let cfg = self.config;
        match self.snapshots.iter().find(|&&s| s == 0 || s > cfg.steps || (s % cfg.eval_every != 0 && s != cfg.steps)) {
            Some(s) => Err(TrainError::Config(format!(
                "snapshot step {s} must be between 1 and {} and a multiple of the validation interval {} (or the last step)",
                cfg.steps, cfg.eval_every
            ))),
            None => Ok(()),
        }
    }

    pub fn run(&self, mut event: impl FnMut(TrainEvent)) -> Result<DeltaManifest, TrainError> {
        let cfg = self.config;
        let prep = self.prepared;
        self.check_snapshots()?;
        std::fs::create_dir_all(&self.out).map_err(|e| TrainError::io(&self.out, e))?;
        let device = self.device.clone().autodiff();
        let langs = prep.train.langs.len();
        let schedule = hybrid_schedule(&prep.train.positive_groups(), langs, cfg.batch_size, cfg.alpha, cfg.steps, cfg.seed);
        let valid_groups = prep.valid.positive_groups();
        let valid_batch = cfg.batch_size.min(distinct_groups(&valid_groups));
        let valid_schedule = validation_schedule(&valid_groups, langs, valid_batch, cfg.valid_batches.max(1));
        let bert = self.base.config.init_with(&self.base.weights, &device)?;
        let mut model = TopLayers { layers: bert.layers.into_iter().skip(prep.split).collect() };
        let mut optim = AdamW::new(cfg.weight_decay);
        let fingerprint = self.fingerprint();
        let mut progress =
            Progress { fingerprint: fingerprint.clone(), code: CODE_VERSIONS, best_valid_loss: f64::INFINITY, ..Default::default() };
        match State::load(&self.out)? {
            // Written by other training code: its steps are not this code's steps, so the run
            // starts over instead of continuing them.
            Some(s) if s.progress.code != CODE_VERSIONS => {
                event(TrainEvent::Restarted { step: s.progress.step, was: s.progress.code });
                State::remove(&self.out)?;
            }
            Some(s) if s.progress.fingerprint == fingerprint => {
                model = import_params(model, s.params)?;
                optim.import(s.progress.step, s.moments, &self.device);
                progress = s.progress;
                event(TrainEvent::Resumed { step: progress.step });
            }
            Some(_) => {
                return Err(TrainError::State(format!(
                    "{} holds the state of a different run (configuration, base model or data differ); \
                     use another --out or delete {}",
                    self.out.display(),
                    self.out.join(STATE_FILE).display()
                )))
            }
            None => {}
        }
        let started = std::time::Instant::now();
        let seconds_before = progress.train_seconds;
        let (mut loss_sum, mut loss_n) = (0.0, 0usize);
        while progress.step < cfg.steps && !progress.stopped_early {
            let step = progress.step;
            let lr = lr_at(cfg, step);
            let loss = model.batch_loss(&prep.train_q, &prep.train_p, langs, &schedule[step], cfg, &device);
            let grads = loss.backward();
            let loss_value = loss.inner().into_scalar::<f32>() as f64;
            if !loss_value.is_finite() {
                return Err(TrainError::State(format!("loss became {loss_value} at step {step}; lower --lr")));
            }
            let (updated, _norm) = optim.step(model, &grads, lr, cfg.clip_norm);
            model = updated;
            progress.step += 1;
            loss_sum += loss_value;
            loss_n += 1;
            event(TrainEvent::Step { step: progress.step, total: cfg.steps, loss: loss_value, lr });
            if progress.step.is_multiple_of(cfg.eval_every) || progress.step == cfg.steps {
                let valid_model = model.valid();
                let inner = self.device.clone();
                let vloss = valid_schedule
                    .iter()
                    .map(|b| valid_model.batch_loss(&prep.valid_q, &prep.valid_p, langs, b, cfg, &inner).into_scalar::<f32>() as f64)
                    .sum::<f64>()
                    / valid_schedule.len() as f64;
                let improved = vloss < progress.best_valid_loss;
                progress.history.push((progress.step, loss_sum / loss_n.max(1) as f64, vloss));
                (loss_sum, loss_n) = (0.0, 0);
                if improved {
                    progress.best_valid_loss = vloss;
                    progress.best_step = progress.step;
                    progress.stale = 0;
                    self.write_checkpoint(&self.out, &valid_model, &progress, false)?;
                } else {
                    progress.stale += 1;
                    if cfg.patience > 0 && progress.stale >= cfg.patience {
                        progress.stopped_early = true;
                        event(TrainEvent::EarlyStop { step: progress.step });
                    }
                }
                if self.snapshots.contains(&progress.step) {
                    // Written before the state that follows it, so a resumed run finds it.
                    let at = Progress { best_step: progress.step, best_valid_loss: vloss, ..progress.clone() };
                    self.write_checkpoint(&snapshot_dir(&self.out, progress.step), &valid_model, &at, true)?;
                }
                event(TrainEvent::Valid { step: progress.step, loss: vloss, best: progress.best_valid_loss, improved });
                progress.train_seconds = seconds_before + started.elapsed().as_secs_f64();
                State { progress: progress.clone(), params: export_params(&model)?, moments: optim.export()? }.save(&self.out)?;
            }
        }
        let manifest = self.finish(&progress)?;
        State::remove(&self.out)?;
        Ok(manifest)
    }

    fn manifest(&self, progress: &Progress, weights: &[u8], complete: bool) -> DeltaManifest {
        DeltaManifest {
            schema: DELTA_SCHEMA.into(),
            version: DELTA_VERSION,
            base_sha256: self.base.sha256.clone(),
            weights_sha256: crate::model::sha256_hex(weights),
            weights_bytes: weights.len() as u64,
            layers: (self.prepared.split..self.base.config.num_layers).collect(),
            alpha: self.config.alpha,
            seed: self.config.seed,
            config: serde_json::to_value(self.config).unwrap_or_default(),
            data: self.prepared.data.clone(),
            steps: progress.step,
            best_step: progress.best_step,
            best_valid_loss: progress.best_valid_loss,
            git_commit: self.git_commit.clone(),
            history: progress.history.clone(),
            train_seconds: progress.train_seconds,
            complete,
            fingerprint: self.fingerprint(),
            code: CODE_VERSIONS,
            train_questions: self.prepared.train.len(),
            valid_questions: self.prepared.valid.len(),
        }
    }

    fn write_checkpoint(&self, dir: &Path, model: &TopLayers, progress: &Progress, complete: bool) -> Result<(), TrainError> {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        let tensors: Vec<_> = model.layers.iter().enumerate().flat_map(|(i, l)| export_layer(l, self.prepared.split + i)).collect();
        let bytes = write_delta(&tensors)?;
        write_atomic(&dir.join(DELTA_WEIGHTS), &bytes)?;
        self.write_manifest(dir, &self.manifest(progress, &bytes, complete))
    }

    fn write_manifest(&self, dir: &Path, m: &DeltaManifest) -> Result<(), TrainError> {
        let text = serde_json::to_string_pretty(m).map_err(|e| TrainError::State(e.to_string()))?;
        write_atomic(&dir.join(DELTA_MANIFEST), text.as_bytes())
    }

    /// Marks the best checkpoint complete, with the final counters.
    fn finish(&self, progress: &Progress) -> Result<DeltaManifest, TrainError> {
        let path = self.out.join(DELTA_WEIGHTS);
        let bytes = std::fs::read(&path).map_err(|e| TrainError::io(&path, e))?;
        let m = self.manifest(progress, &bytes, true);
        self.write_manifest(&self.out, &m)?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checkpoint or state of other code must never match this run: a bumped version of
    /// either the training code or the trunk's pipeline gives another fingerprint.
    #[test]
    fn fingerprint_changes_with_either_code_version() {
        let config = TrainConfig::new();
        let f = |v: CodeVersions| fingerprint_with(&config, "base", 10, &[], 100, v);
        let now = f(CODE_VERSIONS);
        assert_eq!(now, run_fingerprint(&config, "base", 10, &[], 100));
        assert_ne!(now, f(CodeVersions { training: TRAINING_VERSION + 1, ..CODE_VERSIONS }));
        assert_ne!(now, f(CodeVersions { pipeline: CODE_VERSIONS.pipeline + 1, ..CODE_VERSIONS }));
        assert_ne!(now, f(CodeVersions::default()));
    }
}
