//! Hidden states after the frozen lower layers, kept per text so the top layers can be run (or
//! trained) many times without paying for the trunk again.
//!
//! Training the top K of 12 layers on cached trunk outputs makes a step about 12/K times
//! cheaper, and evaluating several checkpoints that share the trunk costs K/12 each.

use burn::tensor::{Bool, Device, Tensor, TensorData};

use super::{mean_pool_normalize, scatter, EncodeError, Embeddings, Encoder};
use crate::model::{run_layers, BertLayer};
use crate::tokenize::Role;

const FEATURES_MAGIC: &[u8; 4] = b"HITF";
const FEATURES_VERSION: u32 = 1;

/// Per-text hidden states `[len_i, hidden]`, real tokens only, in input order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features {
    pub hidden: usize,
    /// Layers `[0, layer)` produced these states.
    pub layer: usize,
    starts: Vec<usize>,
    lens: Vec<usize>,
    data: Vec<f32>,
    pub truncated: usize,
}

impl Features {
    pub fn len(&self) -> usize {
        self.lens.len()
    }
    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }
    /// Token count of text `i`.
    pub fn tokens(&self, i: usize) -> usize {
        self.lens[i]
    }
    /// Bytes held, for progress messages.
    pub fn bytes(&self) -> usize {
        self.data.len() * 4
    }

    /// Pads texts `idx` into one batch: hidden states `[b, len, h]` and the padding mask.
    pub fn batch(&self, idx: &[usize], device: &Device) -> (Tensor<3>, Tensor<2, Bool>) {
        let h = self.hidden;
        let len = idx.iter().map(|&i| self.lens[i]).max().unwrap_or(1).max(1);
        let mut x = vec![0f32; idx.len() * len * h];
        let mut mask = vec![true; idx.len() * len];
        for (row, &i) in idx.iter().enumerate() {
            let n = self.lens[i];
            let src = &self.data[self.starts[i]..self.starts[i] + n * h];
            x[row * len * h..row * len * h + n * h].copy_from_slice(src);
            mask[row * len..row * len + n].iter_mut().for_each(|m| *m = false);
        }
        (
            Tensor::from_data(TensorData::new(x, [idx.len(), len, h]), device),
            Tensor::from_data(TensorData::new(mask, [idx.len(), len]), device),
        )
    }

    /// Length-sorted batches of text indices (less padding; each text's result does not depend
    /// on its batch-mates beyond float rounding, and the grouping itself is deterministic).
    pub fn plan(&self, batch_size: usize) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by_key(|&i| (self.lens[i], i));
        order.chunks(batch_size.max(1)).map(<[usize]>::to_vec).collect()
    }

    /// The features of texts `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Features {
        let mut out = Features { hidden: self.hidden, layer: self.layer, truncated: 0, ..Default::default() };
        for &i in idx {
            out.push(&self.data[self.starts[i]..self.starts[i] + self.lens[i] * self.hidden]);
        }
        out
    }

    /// The file form kept by the trunk store (`store.rs`): magic, version, shape, token counts,
    /// values (little-endian), then the sha256 of everything before it, so a torn or flipped file
    /// is recognised rather than trained on.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(36 + self.lens.len() * 4 + self.data.len() * 4 + 32);
        out.extend_from_slice(FEATURES_MAGIC);
        for v in [FEATURES_VERSION, self.hidden as u32, self.layer as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [self.truncated as u64, self.lens.len() as u64] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for &n in &self.lens {
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        for &x in &self.data {
            out.extend_from_slice(&x.to_le_bytes());
        }
        let digest = <sha2::Sha256 as sha2::Digest>::digest(&out);
        out.extend_from_slice(&digest);
        out
    }

    /// Reads [`Features::to_bytes`] back; the error says what is wrong with the bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Features, String> {
        const HEAD: usize = 4 + 3 * 4 + 2 * 8;
        if bytes.len() < HEAD + 32 {
            return Err(format!("{} bytes is shorter than the header", bytes.len()));
        }
        let (body, digest) = bytes.split_at(bytes.len() - 32);
        if <sha2::Sha256 as sha2::Digest>::digest(body).as_slice() != digest {
            return Err("checksum mismatch (torn or corrupted file)".into());
        }
        if &body[..4] != FEATURES_MAGIC {
            return Err("not a trunk feature file (bad magic)".into());
        }
        let u32_at = |at: usize| u32::from_le_bytes(body[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().expect("8 bytes"));
        let version = u32_at(4);
        if version != FEATURES_VERSION {
            return Err(format!("format version {version}, this build reads {FEATURES_VERSION}"));
        }
        let (hidden, layer) = (u32_at(8) as usize, u32_at(12) as usize);
        let (truncated, n) = (u64_at(16), u64_at(24));
        let lens_end = (n as u128) * 4 + HEAD as u128;
        if hidden == 0 || lens_end > body.len() as u128 {
            return Err(format!("hidden size {hidden} or text count {n} does not fit the file"));
        }
        let lens: Vec<usize> = (0..n as usize).map(|i| u32_at(HEAD + 4 * i) as usize).collect();
        let values: u128 = lens.iter().map(|&l| l as u128).sum::<u128>() * hidden as u128;
        if lens_end + values * 4 != body.len() as u128 {
            return Err(format!("token counts say {values} values, the file holds {}", (body.len() as u128 - lens_end) / 4));
        }
        let data: Vec<f32> =
            body[lens_end as usize..].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        let mut starts = Vec::with_capacity(lens.len());
        let mut at = 0;
        for &l in &lens {
            starts.push(at);
            at += l * hidden;
        }
        Ok(Features { hidden, layer, starts, lens, data, truncated: truncated as usize })
    }

    fn push(&mut self, values: &[f32]) {
        self.starts.push(self.data.len());
        self.lens.push(values.len() / self.hidden);
        self.data.extend_from_slice(values);
    }
}

/// Reads a tensor back as f32 values (native backends).
pub(crate) fn read_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, EncodeError> {
    t.into_data().try_into_vec::<f32>().map_err(|e| EncodeError::Readback(format!("{e:?}")))
}

impl Encoder {
    /// Runs the embeddings and layers `[0, upto)` on every text and keeps the result.
    pub fn features(
        &self,
        texts: &[&str],
        role: Role,
        upto: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<Features, EncodeError> {
        let h = self.dim();
        let plan = self.plan(texts, role)?;
        let mut per_text: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        let truncated = plan.iter().map(|(_, t)| t.truncated).sum();
        self.run_jobs(
            plan.len(),
            |b| {
                let tokens = &plan[b].1;
                let mask = self.pad_mask(tokens);
                read_f32(self.bert.forward_until(self.gather_words(tokens), mask, upto))
            },
            |b, values| {
                let (idx, tokens) = &plan[b];
                for (row, &i) in idx.iter().enumerate() {
                    let at = row * tokens.len * h;
                    per_text[i] = values[at..at + tokens.lengths[row] * h].to_vec();
                }
                progress(idx.len());
            },
        )?;
        let mut out = Features { hidden: h, layer: upto, truncated, ..Default::default() };
        for v in &per_text {
            out.push(v);
        }
        Ok(out)
    }

    /// Runs `layers` (the top of this or another checkpoint that shares the trunk) on cached
    /// features and pools: the same embeddings as [`Encoder::encode`] up to float rounding.
    pub fn encode_features(
        &self,
        features: &Features,
        layers: &[BertLayer],
        mut progress: impl FnMut(usize),
    ) -> Result<Embeddings, EncodeError> {
        let dim = self.dim();
        let mut data = vec![0f32; features.len() * dim];
        let plan = features.plan(self.config.batch_size);
        self.run_jobs(
            plan.len(),
            |b| {
                let (x, mask) = features.batch(&plan[b], &self.device);
                read_f32(mean_pool_normalize(run_layers(layers, x, mask.clone()), mask))
            },
            |b, values| {
                scatter(&mut data, &values, &plan[b], dim);
                progress(plan[b].len());
            },
        )?;
        Ok(Embeddings { data, dim, truncated: features.truncated })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Features {
        let mut f = Features { hidden: 3, layer: 11, truncated: 2, ..Default::default() };
        f.push(&[1.0, -2.5, 3.25, 0.0, f32::MIN_POSITIVE, -0.0]);
        f.push(&[]);
        f.push(&[7.0, 8.0, 9.0]);
        f
    }

    #[test]
    fn stored_features_read_back_exactly() {
        let f = sample();
        assert_eq!(Features::from_bytes(&f.to_bytes()).unwrap(), f);
        let empty = Features { hidden: 384, layer: 10, ..Default::default() };
        assert_eq!(Features::from_bytes(&empty.to_bytes()).unwrap(), empty);
    }

    /// Any one damaged byte or a cut anywhere is refused with a reason, never read as features.
    #[test]
    fn every_damaged_byte_and_every_cut_is_refused() {
        let good = sample().to_bytes();
        for pos in 0..good.len() {
            for v in [0x00, 0xFF, good[pos] ^ 0x01] {
                let mut b = good.clone();
                if b[pos] == v {
                    continue;
                }
                b[pos] = v;
                assert!(Features::from_bytes(&b).is_err(), "byte {pos} = {v:#04x} was accepted");
            }
        }
        for cut in 0..good.len() {
            assert!(Features::from_bytes(&good[..cut]).is_err(), "cut at {cut} was accepted");
        }
    }

    /// A file whose checksum is right but whose counts lie (a writer bug, not damage) is refused
    /// by the shape checks, not trusted.
    #[test]
    fn counts_that_do_not_fit_are_refused() {
        let reseal = |mut body: Vec<u8>| {
            body.truncate(body.len() - 32);
            let d = <sha2::Sha256 as sha2::Digest>::digest(&body);
            body.extend_from_slice(&d);
            body
        };
        let good = sample().to_bytes();
        let mut b = good.clone();
        b[24..32].copy_from_slice(&u64::MAX.to_le_bytes()); // text count
        assert!(Features::from_bytes(&reseal(b)).unwrap_err().contains("does not fit"));
        let mut b = good.clone();
        b[32..36].copy_from_slice(&5u32.to_le_bytes()); // first text's token count
        assert!(Features::from_bytes(&reseal(b)).unwrap_err().contains("token counts"));
        let mut b = good;
        b[8..12].copy_from_slice(&0u32.to_le_bytes()); // hidden size
        assert!(Features::from_bytes(&reseal(b)).is_err());
    }
}
