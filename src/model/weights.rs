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

    /// Adds rows `first..` of the full table to a partial one; `packed` holds them in this
    /// table's 4-bit format. Rows already present stay as they are, so the same shard may arrive
    /// twice. This is how the page fetches the table piecewise, as queries need it.
    pub fn insert_rows(&mut self, first: u32, packed: &[u8]) -> Result<(), ModelError> {
        self.insert_row_runs(&[(first, packed)])
    }

    /// [`Self::insert_rows`] for several runs at once. The table is rebuilt (ids sorted, rows
    /// copied) once per call, so a batch of new text that needs 100 shards costs one rebuild,
    /// not 100 (the worker spent 5% of a passage batch re-sorting, scripts/profile-worker).
    /// Where runs overlap, the first given holds the row.
    pub fn insert_row_runs(&mut self, runs: &[(u32, &[u8])]) -> Result<(), ModelError> {
        let bad = |message: String| ModelError::Format { file: "<word table>".into(), message };
        let Some(vocab) = &self.vocab else {
            return Ok(()); // a full table already has every row
        };
        if runs.is_empty() {
            return Ok(()); // the usual case once a text's rows are in: no rebuild
        }
        let StoredTensor::Q4(old) = &self.tensor else {
            return Err(bad("only a 4-bit word table can take rows".into()));
        };
        let row_bytes = self.dim / Q4_BLOCK * Q4_BLOCK_BYTES;
        let full = vocab.full_size();
        let mut spans = Vec::with_capacity(runs.len()); // (first, end, packed)
        for &(first, packed) in runs {
            if packed.len() % row_bytes != 0 {
                return Err(bad(format!("{} bytes is not a whole number of {row_bytes}-byte rows", packed.len())));
            }
            let end = first as usize + packed.len() / row_bytes;
            if end > full {
                return Err(bad(format!("rows {first}..{end} are beyond the {full}-token vocabulary")));
            }
            spans.push((first, end as u32, packed));
        }
        let grown = super::Vocab::new(full, vocab.kept().iter().copied().chain(spans.iter().flat_map(|&(f, e, _)| f..e)));
        if grown.len() == vocab.len() {
            return Ok(());
        }
        let mut table = Vec::with_capacity(grown.len() * row_bytes);
        for &id in grown.kept() {
            let (src, row) = if vocab.contains(id) {
                (&old[..], vocab.row(id))
            } else {
                // Present in `grown` but not in `vocab`: some span holds it.
                let &(first, _, packed) = spans.iter().find(|&&(f, e, _)| (f..e).contains(&id)).ok_or_else(|| bad(format!("row {id} came from no run")))?;
                (packed, id - first)
            };
            table.extend_from_slice(&src[row as usize * row_bytes..(row as usize + 1) * row_bytes]);
        }
        self.tensor = StoredTensor::Q4(Arc::new(table));
        self.rows = grown.len();
        self.vocab = Some(grown);
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Vocab;

    /// A 4-bit table of `rows` x 32 whose bytes differ row by row.
    fn full_table(rows: usize) -> Vec<u8> {
        (0..rows * Q4_BLOCK_BYTES)
            .map(|i| if i % Q4_BLOCK_BYTES < 2 { [0x00, 0x3c][i % 2] } else { (i * 7 + i / Q4_BLOCK_BYTES) as u8 })
            .collect()
    }

    fn gather(t: &WordTable, ids: &[u32]) -> Vec<f32> {
        let mut out = Vec::new();
        t.gather_into(ids, &mut out);
        out
    }

    #[test]
    fn inserted_rows_equal_the_full_table_and_repeats_are_harmless() {
        let bytes = full_table(10);
        let full = WordTable { tensor: StoredTensor::Q4(Arc::new(bytes.clone())), dim: 32, rows: 10, vocab: None };
        let mut part = WordTable {
            tensor: StoredTensor::Q4(Arc::new(bytes[..4 * Q4_BLOCK_BYTES].to_vec())),
            dim: 32,
            rows: 4,
            vocab: Some(Vocab::new(10, [])),
        };
        assert!(!part.knows(7));
        assert_eq!(gather(&part, &[7]), gather(&full, &[3]), "an absent row reads as <unk>");
        part.insert_rows(6, &bytes[6 * Q4_BLOCK_BYTES..8 * Q4_BLOCK_BYTES]).unwrap();
        part.insert_rows(4, &bytes[4 * Q4_BLOCK_BYTES..7 * Q4_BLOCK_BYTES]).unwrap(); // overlaps row 6
        assert!(part.knows(7) && !part.knows(8));
        assert_eq!(part.rows(), 8);
        let ids = [0, 5, 7, 6, 4, 1];
        assert_eq!(gather(&part, &ids), gather(&full, &ids));
        assert!(part.insert_rows(9, &bytes[..2 * Q4_BLOCK_BYTES]).is_err(), "rows past the vocabulary");
        assert!(part.insert_rows(8, &bytes[..5]).is_err(), "a partial row");
    }

    #[test]
    fn runs_inserted_at_once_equal_runs_inserted_one_by_one() {
        let bytes = full_table(12);
        let start = || WordTable {
            tensor: StoredTensor::Q4(Arc::new(bytes[..4 * Q4_BLOCK_BYTES].to_vec())),
            dim: 32,
            rows: 4,
            vocab: Some(Vocab::new(12, [])),
        };
        // Out of order, overlapping (row 6 twice) and one run already present (rows 2..4).
        let runs: [(u32, &[u8]); 4] = [
            (9, &bytes[9 * Q4_BLOCK_BYTES..11 * Q4_BLOCK_BYTES]),
            (5, &bytes[5 * Q4_BLOCK_BYTES..7 * Q4_BLOCK_BYTES]),
            (2, &bytes[2 * Q4_BLOCK_BYTES..4 * Q4_BLOCK_BYTES]),
            (6, &bytes[6 * Q4_BLOCK_BYTES..8 * Q4_BLOCK_BYTES]),
        ];
        let (mut at_once, mut one_by_one) = (start(), start());
        at_once.insert_row_runs(&runs).unwrap();
        for (first, packed) in runs {
            one_by_one.insert_rows(first, packed).unwrap();
        }
        assert_eq!(at_once.rows(), 9, "rows 0..4 plus 5, 6, 7, 9, 10");
        assert_eq!(at_once.vocab, one_by_one.vocab);
        let ids: Vec<u32> = (0..12).collect();
        assert_eq!(gather(&at_once, &ids), gather(&one_by_one, &ids));
        let full = WordTable { tensor: StoredTensor::Q4(Arc::new(bytes.clone())), dim: 32, rows: 12, vocab: None };
        assert_eq!(gather(&at_once, &[9, 10, 5, 7]), gather(&full, &[9, 10, 5, 7]));
        let mut t = start();
        assert!(t.insert_row_runs(&[(4, &bytes[4 * Q4_BLOCK_BYTES..5 * Q4_BLOCK_BYTES]), (8, &bytes[..5])]).is_err(), "one bad run fails the call");
        assert_eq!(t.rows(), 4, "and adds nothing");
    }
}
