//! Texts -> L2-normalised sentence embeddings: tokenise, gather word vectors, run the Burn
//! encoder, mean-pool over real tokens, normalise. Shared by the CLI, training and the web page.

mod backend;
mod error;
mod features;
#[cfg(not(target_arch = "wasm32"))]
mod store;

pub use backend::BackendKind;
pub use error::EncodeError;
pub use features::Features;
#[cfg(not(target_arch = "wasm32"))]
pub use store::{Origin, TrunkStore};

use burn::tensor::{Bool, Device, Tensor, TensorData};

use crate::model::{Bert, Checkpoint, WordTable};
use crate::tokenize::{Role, TextTokenizer, TokenBatch};

/// Version of the text -> vector pipeline (tokeniser front end, prefixes, truncation, word
/// gather, forward pass, pooling). Embedding caches are keyed by it next to the model hash, so
/// a change to the encoder's numerics can never reuse vectors computed before it: bump it with
/// any such change. 3: the CPU's vectorised erf GELU (`model::activation`; vectors move by at
/// most ~1.3e-7). 4: the CPU's own attention kernel (`model::attention`, polynomial exp).
pub const PIPELINE_VERSION: u32 = 4;

/// Embeddings of a list of texts, row-major `[n, dim]`, in input order.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    pub data: Vec<f32>,
    pub dim: usize,
    /// Texts cut to the maximum length.
    pub truncated: usize,
}

impl Embeddings {
    pub fn len(&self) -> usize {
        self.data.len() / self.dim.max(1)
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// Encoder settings; `EncoderConfig::new().with_batch_size(32)`.
#[derive(burn::config::Config, Debug)]
pub struct EncoderConfig {
    #[config(default = 64)]
    pub batch_size: usize,
    /// docs/evaluation.md's limits ([`crate::tokenize::Role::default_max_len`]), specials included.
    #[config(default = "crate::tokenize::Role::Query.default_max_len()")]
    pub max_len_query: usize,
    #[config(default = "crate::tokenize::Role::Passage.default_max_len()")]
    pub max_len_passage: usize,
    /// Batches encoded concurrently (native); 1 in the browser.
    #[config(default = 2)]
    pub workers: usize,
}

impl EncoderConfig {
    pub fn max_len(&self, role: Role) -> usize {
        match role {
            Role::Query => self.max_len_query,
            Role::Passage => self.max_len_passage,
        }
    }
}

#[derive(Clone)]
pub struct Encoder {
    pub bert: Bert,
    pub words: WordTable,
    pub tokenizer: TextTokenizer,
    pub device: Device,
    pub config: EncoderConfig,
    /// Identifies the weights (sha256 of the checkpoint), for caches and reports.
    pub model_sha256: String,
    pub model_source: String,
}

impl Encoder {
    pub fn new(
        checkpoint: &Checkpoint,
        tokenizer: TextTokenizer,
        device: Device,
        config: EncoderConfig,
    ) -> Result<Self, EncodeError> {
        let bert = checkpoint.config.init_with(&checkpoint.weights, &device)?;
        let words = checkpoint
            .weights
            .word_table(&checkpoint.config)
            .ok_or_else(|| EncodeError::Model(crate::model::ModelError::MissingTensor {
                file: checkpoint.source.clone(),
                name: "emb.word".into(),
            }))?;
        if config.batch_size == 0 {
            return Err(EncodeError::Config("batch_size must be at least 1".into()));
        }
        let max_pos = checkpoint.config.max_position_embeddings;
        for role in [Role::Query, Role::Passage] {
            if config.max_len(role) > max_pos || config.max_len(role) < 3 {
                return Err(EncodeError::Config(format!(
                    "max length for {role:?} is {}; it must be between 3 and the model's {max_pos} positions",
                    config.max_len(role)
                )));
            }
        }
        Ok(Self {
            bert,
            words,
            tokenizer,
            device,
            config,
            model_sha256: checkpoint.sha256.clone(),
            model_source: checkpoint.source.clone(),
        })
    }

    pub fn dim(&self) -> usize {
        self.words.dim()
    }

    /// Word vectors of a token batch as a `[batch, len, hidden]` tensor.
    pub fn gather_words(&self, tokens: &TokenBatch) -> Tensor<3> {
        let mut rows = Vec::with_capacity(tokens.ids.len() * self.dim());
        self.words.gather_into(&tokens.ids, &mut rows);
        Tensor::from_data(TensorData::new(rows, [tokens.batch, tokens.len, self.dim()]), &self.device)
    }

    pub fn pad_mask(&self, tokens: &TokenBatch) -> Tensor<2, Bool> {
        Tensor::from_data(TensorData::new(tokens.pad_mask.clone(), [tokens.batch, tokens.len]), &self.device)
    }

    /// The graph for one batch: `[batch, dim]` normalised embeddings (not yet read back).
    pub fn forward(&self, tokens: &TokenBatch) -> Tensor<2> {
        let mask = self.pad_mask(tokens);
        let hidden = self.bert.forward(self.gather_words(tokens), mask.clone());
        mean_pool_normalize(hidden, mask)
    }

    /// Splits texts into length-sorted batches (less padding, same results: every text is
    /// encoded independently of its batch-mates) and returns, per batch, the original indices.
    pub(crate) fn plan(&self, texts: &[&str], role: Role) -> Result<Vec<(Vec<usize>, TokenBatch)>, EncodeError> {
        let max_len = self.config.max_len(role);
        let mut lens: Vec<(usize, usize)> = Vec::with_capacity(texts.len());
        for (i, t) in texts.iter().enumerate() {
            // Byte length is a cheap proxy for token length, good enough to group batches.
            lens.push((t.len(), i));
        }
        lens.sort();
        let mut out = Vec::new();
        for chunk in lens.chunks(self.config.batch_size) {
            let idx: Vec<usize> = chunk.iter().map(|&(_, i)| i).collect();
            let batch_texts: Vec<&str> = idx.iter().map(|&i| texts[i]).collect();
            let tokens = self.tokenizer.batch(&batch_texts, role, max_len)?;
            out.push((idx, tokens));
        }
        Ok(out)
    }

    /// Encodes texts synchronously (native backends). `progress` gets the number of texts done.
    pub fn encode(
        &self,
        texts: &[&str],
        role: Role,
        mut progress: impl FnMut(usize),
    ) -> Result<Embeddings, EncodeError> {
        let dim = self.dim();
        let mut data = vec![0f32; texts.len() * dim];
        let plan = self.plan(texts, role)?;
        let truncated = plan.iter().map(|(_, t)| t.truncated).sum();
        self.run_jobs(
            plan.len(),
            |b| self.run_batch(&plan[b].1),
            |b, values| {
                scatter(&mut data, &values, &plan[b].0, dim);
                progress(plan[b].0.len());
            },
        )?;
        Ok(Embeddings { data, dim, truncated })
    }

    /// Runs `jobs` batch jobs and hands each result to `sink` on the calling thread.
    ///
    /// Jobs run on `config.workers` threads at once: Burn's CPU kernels parallelise matrix
    /// products but run element-wise ops (erf GELU, softmax) on one core, so independent batches
    /// side by side keep every core busy. Results do not depend on the worker count.
    pub(crate) fn run_jobs<T: Send>(
        &self,
        jobs: usize,
        job: impl Fn(usize) -> Result<T, EncodeError> + Sync,
        mut sink: impl FnMut(usize, T),
    ) -> Result<(), EncodeError> {
        let workers = self.config.workers.clamp(1, jobs.max(1));
        if workers == 1 || cfg!(target_arch = "wasm32") || jobs < 2 * workers {
            for b in 0..jobs {
                sink(b, job(b)?);
            }
            return Ok(());
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let (tx, rx) = std::sync::mpsc::channel::<(usize, Result<T, EncodeError>)>();
        std::thread::scope(|scope| -> Result<(), EncodeError> {
            for _ in 0..workers {
                let tx = tx.clone();
                let (next, job) = (&next, &job);
                scope.spawn(move || {
                    let work = || loop {
                        let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if b >= jobs || tx.send((b, job(b))).is_err() {
                            break;
                        }
                    };
                    // Each worker's kernels stay on its own thread: nested parallel matrix
                    // products would only oversubscribe the cores the workers already use.
                    single_threaded_kernels(work);
                });
            }
            drop(tx);
            for (b, result) in rx {
                match result {
                    Ok(value) => sink(b, value),
                    Err(e) => {
                        // Stop handing out work; the other workers finish their batch.
                        next.store(jobs, std::sync::atomic::Ordering::Relaxed);
                        return Err(e);
                    }
                }
            }
            Ok(())
        })
    }

    fn run_batch(&self, tokens: &TokenBatch) -> Result<Vec<f32>, EncodeError> {
        self.forward(tokens)
            .into_data()
            .try_into_vec::<f32>()
            .map_err(|e| EncodeError::Readback(format!("{e:?}")))
    }

    /// Encodes texts reading results asynchronously (required on WebGPU, where a blocking read
    /// is impossible).
    pub async fn encode_async(&self, texts: &[&str], role: Role) -> Result<Embeddings, EncodeError> {
        let dim = self.dim();
        let mut data = vec![0f32; texts.len() * dim];
        let mut truncated = 0;
        for (idx, tokens) in self.plan(texts, role)? {
            truncated += tokens.truncated;
            let out = self
                .forward(&tokens)
                .into_data_async()
                .await
                .map_err(|e| EncodeError::Readback(format!("{e:?}")))?;
            let values = out.as_slice::<f32>().map_err(|e| EncodeError::Readback(format!("{e:?}")))?;
            scatter(&mut data, values, &idx, dim);
        }
        Ok(Embeddings { data, dim, truncated })
    }
}

/// Runs `work` with Burn's CPU kernels confined to the calling thread.
#[cfg(not(target_arch = "wasm32"))]
fn single_threaded_kernels(work: impl FnOnce() + Send) {
    match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
        Ok(pool) => pool.install(work),
        Err(_) => work(),
    }
}

#[cfg(target_arch = "wasm32")]
fn single_threaded_kernels(work: impl FnOnce() + Send) {
    work()
}

pub(crate) fn scatter(data: &mut [f32], values: &[f32], idx: &[usize], dim: usize) {
    for (row, &i) in idx.iter().enumerate() {
        data[i * dim..(i + 1) * dim].copy_from_slice(&values[row * dim..(row + 1) * dim]);
    }
}

/// Mean over non-padding positions, then L2 normalisation: `[batch, len, h]` -> `[batch, h]`.
pub fn mean_pool_normalize(hidden: Tensor<3>, pad_mask: Tensor<2, Bool>) -> Tensor<2> {
    let [batch, len, h] = hidden.dims();
    let keep = pad_mask.bool_not().float().reshape([batch, len, 1]);
    let summed = (hidden * keep.clone()).sum_dim(1).reshape([batch, h]);
    let counts = keep.sum_dim(1).reshape([batch, 1]).clamp_min(1.0);
    let mean = summed / counts;
    let norm = mean.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
    mean / norm
}
