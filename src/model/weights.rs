use std::collections::BTreeMap;
use std::sync::Arc;

use super::quant::{dequantize_q4_0, Q4_BLOCK, Q4_BLOCK_BYTES};
use super::{BertConfig, ModelError};

/// One tensor as stored on disk: plain f32 or packed Q4_0 (kept packed until it is needed, so the
/// 250k-row word table stays 4-bit in memory and in the browser).
#[derive(Debug, Clone)]
pub enum StoredTensor {
    F32(Arc<Vec<f32>>),
    Q4(Arc<Vec<u8>>),
}

impl StoredTensor {
    pub fn len(&self) -> usize {
        match self {
            StoredTensor::F32(v) => v.len(),
            StoredTensor::Q4(b) => b.len() / Q4_BLOCK_BYTES * Q4_BLOCK,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            StoredTensor::F32(v) => v.as_ref().clone(),
            StoredTensor::Q4(b) => {
                let mut out = vec![0f32; self.len()];
                dequantize_q4_0(b, &mut out);
                out
            }
        }
    }
}

/// Tensors by canonical name (`emb.word`, `l3.q.w`, ...; linear weights [out, in]).
#[derive(Debug, Clone, Default)]
pub struct Weights {
    tensors: BTreeMap<String, StoredTensor>,
}

impl Weights {
    pub fn insert(&mut self, name: impl Into<String>, tensor: StoredTensor) {
        self.tensors.insert(name.into(), tensor);
    }

    pub fn get(&self, name: &str) -> Option<&StoredTensor> {
        self.tensors.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Checks that every tensor the architecture needs is present with the right element count
    /// and finite values, so model construction afterwards cannot fail.
    pub fn validate(&self, config: &BertConfig, file: &str) -> Result<(), ModelError> {
        for (name, shape) in config.tensor_shapes() {
            let tensor = self
                .get(&name)
                .ok_or_else(|| ModelError::MissingTensor { file: file.into(), name: name.clone() })?;
            let expected: usize = shape.iter().product();
            if tensor.len() != expected {
                return Err(ModelError::TensorSize {
                    file: file.into(),
                    name,
                    expected,
                    found: tensor.len(),
                    shape,
                });
            }
            if let StoredTensor::F32(values) = tensor {
                if let Some(index) = values.iter().position(|v| !v.is_finite()) {
                    return Err(ModelError::NonFinite { file: file.into(), name, index });
                }
            }
        }
        Ok(())
    }

    /// The word-embedding table as a row gatherer (see [`WordTable`]).
    pub fn word_table(&self, config: &BertConfig) -> Option<WordTable> {
        let tensor = self.get("emb.word")?.clone();
        Some(WordTable { tensor, dim: config.hidden_size, rows: config.vocab_size, vocab: None })
    }
}

/// The word-embedding table, read row by row on the CPU.
///
/// Why not a Burn `Embedding`: the table is 250,037 x 384 (366 MiB in f32), larger than WebGPU's
/// default storage binding, and only a few hundred rows are needed per batch. Gathering rows
/// from the packed 4-bit table gives bit-identical values to dequantising it all first.
#[derive(Debug, Clone)]
pub struct WordTable {
    tensor: StoredTensor,
    dim: usize,
    rows: usize,
    /// Set for a pruned table: maps tokenizer ids to its rows.
    vocab: Option<super::Vocab>,
}

impl WordTable {
    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Declares the table pruned to `vocab` (see [`super::prune_checkpoint`]).
    pub fn with_vocab(mut self, vocab: super::Vocab) -> Result<Self, ModelError> {
        if vocab.len() != self.rows {
            return Err(ModelError::Format {
                file: "<vocab>".into(),
                message: format!("vocabulary lists {} tokens but the word table has {} rows", vocab.len(), self.rows),
            });
        }
        self.vocab = Some(vocab);
        Ok(self)
    }

    /// Token ids whose vectors are really present (all of them unless pruned).
    pub fn knows(&self, id: u32) -> bool {
        match &self.vocab {
            Some(v) => v.contains(id),
            None => (id as usize) < self.rows,
        }
    }

    /// Appends the rows of `ids` to `out`; ids past the table are mapped to row 3 (`<unk>`),
    /// which the tokenizer never produces but a hand-made id list could.
    pub fn gather_into(&self, ids: &[u32], out: &mut Vec<f32>) {
        let dim = self.dim;
        for &id in ids {
            let id = self.vocab.as_ref().map_or(id, |v| v.row(id));
            let row = if (id as usize) < self.rows { id as usize } else { 3 };
            let start = out.len();
            out.resize(start + dim, 0.0);
            match &self.tensor {
                StoredTensor::F32(v) => out[start..].copy_from_slice(&v[row * dim..(row + 1) * dim]),
                StoredTensor::Q4(b) => {
                    let bytes_per_row = dim / Q4_BLOCK * Q4_BLOCK_BYTES;
                    dequantize_q4_0(&b[row * bytes_per_row..(row + 1) * bytes_per_row], &mut out[start..]);
                }
            }
        }
    }
}
