//! Helpers shared by the integration tests: where the data and the base model are, and a tiny
//! synthetic model (for loader, delta and fuzz tests that must not need the real one).
#![allow(dead_code)] // each test file uses its own subset

use std::path::PathBuf;
use std::sync::Arc;

use hybrid_ir::model::{write_e5s1, BertConfig, StoredTensor, Weights};

/// The data folder: $HYBRID_IR_DATA or ../shared/data.
pub fn data() -> PathBuf {
    let d = std::env::var_os("HYBRID_IR_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    assert!(d.is_dir(), "data folder {} missing (set HYBRID_IR_DATA)", d.display());
    d
}

/// The base model folder: $HYBRID_IR_MODEL_DIR or models/base (scripts/fetch-model fills it).
pub fn model_dir() -> PathBuf {
    std::env::var_os("HYBRID_IR_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/base"))
}

/// Hugging Face `tokenizers`' own pipeline on the base model's `tokenizer.json`: the reference our
/// tokenizer (its own Unigram stage) must match id for id.
pub fn reference_tokenizer() -> tokenizers::Tokenizer {
    let path = model_dir().join("tokenizer.json");
    tokenizers::Tokenizer::from_file(&path).unwrap_or_else(|e| panic!("{}: {e} (run scripts/fetch-model)", path.display()))
}

/// Token ids of `text` with its role prefix by [`reference_tokenizer`] (`<s>`, `</s>` added).
pub fn reference_ids(reference: &tokenizers::Tokenizer, text: &str, role: hybrid_ir::tokenize::Role) -> Vec<u32> {
    reference.encode(format!("{}{text}", role.prefix()), true).expect("reference tokenizer encodes").get_ids().to_vec()
}

/// A fresh, empty temporary folder for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hybrid-ir-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

pub fn tiny_config() -> BertConfig {
    BertConfig::new()
        .with_hidden_size(32)
        .with_num_layers(2)
        .with_num_heads(4)
        .with_intermediate_size(64)
        .with_vocab_size(40)
        .with_max_position_embeddings(16)
        .with_type_vocab_size(2)
}

/// Deterministic pseudo-random weights; the word table is packed Q4_0 like the real model.
pub fn tiny_weights(config: &BertConfig, q4_words: bool) -> Weights {
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
    };
    let mut w = Weights::default();
    for (name, shape) in config.tensor_shapes() {
        let n: usize = shape.iter().product();
        if name == "emb.word" && q4_words {
            let mut bytes = Vec::new();
            for _ in 0..n / 32 {
                bytes.extend_from_slice(&half::f16::from_f32(0.02).to_le_bytes());
                for _ in 0..16 {
                    bytes.push(((next() + 0.1) * 1275.0) as u8);
                }
            }
            w.insert(name, StoredTensor::Q4(Arc::new(bytes)));
        } else {
            let ones = name.ends_with("ln.w");
            let v: Vec<f32> = (0..n).map(|_| if ones { 1.0 + next() } else { next() }).collect();
            w.insert(name, StoredTensor::F32(Arc::new(v)));
        }
    }
    w
}

/// The tiny model as an E5S1 file.
pub fn tiny_file() -> (BertConfig, Weights, Vec<u8>) {
    let config = tiny_config();
    let weights = tiny_weights(&config, true);
    let bytes = write_e5s1(&config, &weights).expect("writes");
    (config, weights, bytes)
}
