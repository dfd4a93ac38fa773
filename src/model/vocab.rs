//! Partial word tables: which rows of the full vocabulary a table holds. multilingual-e5-small's
//! table is 250,037 rows (54 MB even at 4 bits), too much for a page to download up front, so
//! the browser starts from the special tokens and adds rows as queries need them
//! ([`super::WordTable::insert_rows`]). Rows are copied byte for byte, so every present token's
//! vector is bit-identical to the full model's; an absent one falls back to `<unk>`.

use std::sync::Arc;

use super::quant::{Q4_BLOCK, Q4_BLOCK_BYTES};
use super::{BertConfig, Checkpoint, ModelError, StoredTensor};

/// Token id of `<unk>` in the XLM-R vocabulary; ids 0..=3 (`<s>`, `<pad>`, `</s>`, `<unk>`) are
/// always kept.
pub const UNK_ID: u32 = 3;

/// The kept original token ids, ascending; row `i` of the pruned table is token `kept[i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Vocab {
    kept: Vec<u32>,
    /// Original id -> pruned row (`u32::MAX` = dropped), dense over the full vocabulary.
    remap: Arc<Vec<u32>>,
}

impl Vocab {
    /// From any list of used ids; the special tokens are added.
    pub fn new(full_size: usize, used: impl IntoIterator<Item = u32>) -> Vocab {
        let mut kept: Vec<u32> = used.into_iter().chain(0..=UNK_ID).filter(|&i| (i as usize) < full_size).collect();
        kept.sort_unstable();
        kept.dedup();
        let mut remap = vec![u32::MAX; full_size];
        for (row, &id) in kept.iter().enumerate() {
            remap[id as usize] = row as u32;
        }
        Vocab { kept, remap: Arc::new(remap) }
    }

    pub fn kept(&self) -> &[u32] {
        &self.kept
    }

    pub fn len(&self) -> usize {
        self.kept.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// Pruned row of an original id (`<unk>`'s row when the token was dropped).
    pub fn row(&self, id: u32) -> u32 {
        match self.remap.get(id as usize) {
            Some(&r) if r != u32::MAX => r,
            _ => self.remap[UNK_ID as usize],
        }
    }

    /// Size of the full vocabulary the ids come from.
    pub fn full_size(&self) -> usize {
        self.remap.len()
    }

    pub fn contains(&self, id: u32) -> bool {
        self.remap.get(id as usize).is_some_and(|&r| r != u32::MAX)
    }
}

/// The checkpoint with its word table cut to `vocab`'s rows (and `vocab_size` to match).
pub fn prune_checkpoint(checkpoint: &Checkpoint, vocab: &Vocab) -> Result<Checkpoint, ModelError> {
    let config = &checkpoint.config;
    let h = config.hidden_size;
    let table = checkpoint
        .weights
        .get("emb.word")
        .ok_or_else(|| ModelError::MissingTensor { file: checkpoint.source.clone(), name: "emb.word".into() })?;
    let pruned = match table {
        StoredTensor::Q4(bytes) => {
            let row_bytes = h / Q4_BLOCK * Q4_BLOCK_BYTES;
            let mut out = Vec::with_capacity(vocab.len() * row_bytes);
            for &id in vocab.kept() {
                out.extend_from_slice(&bytes[id as usize * row_bytes..(id as usize + 1) * row_bytes]);
            }
            StoredTensor::Q4(Arc::new(out))
        }
        StoredTensor::F32(v) => {
            let mut out = Vec::with_capacity(vocab.len() * h);
            for &id in vocab.kept() {
                out.extend_from_slice(&v[id as usize * h..(id as usize + 1) * h]);
            }
            StoredTensor::F32(Arc::new(out))
        }
    };
    let mut weights = checkpoint.weights.clone();
    weights.insert("emb.word", pruned);
    let config = BertConfig { vocab_size: vocab.len(), ..config.clone() };
    weights.validate(&config, &checkpoint.source)?;
    Ok(Checkpoint { config, weights, sha256: checkpoint.sha256.clone(), source: checkpoint.source.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaps_kept_ids_and_sends_dropped_ones_to_unk() {
        let v = Vocab::new(100, [50, 7, 50, 99, 200]);
        assert_eq!(v.kept(), &[0, 1, 2, 3, 7, 50, 99]);
        assert_eq!(v.row(7), 4);
        assert_eq!(v.row(99), 6);
        assert_eq!(v.row(8), v.row(UNK_ID));
        assert_eq!(v.row(1000), 3);
        assert_eq!(v.full_size(), 100);
        assert!(v.contains(50) && !v.contains(8));
    }
}
