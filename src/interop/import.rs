//! Import: a Hugging Face / sentence-transformers folder of a multilingual-e5-small fine-tune
//! (`config.json`, `model.safetensors` in f32, f16 or bf16 with BertModel names, `tokenizer.json`)
//! as this crate's checkpoint: the f16 deltas of the transformer layers that differ from the
//! base, and a manifest with where they came from. `eval`, `search`, `web-assets` and the page's
//! "your checkpoint" take the result like any trained one.
//!
//! A checkpoint here is the 4-bit base plus replaced transformer layers, so the folder must be
//! this architecture with this vocabulary, and its embeddings must be the base's (within
//! `embedding_tolerance`: a fine-tune of the float original differs from the 4-bit base by its
//! rounding); anything else is refused with the mismatch named.

use std::path::{Path, PathBuf};

use super::{InteropError, PROVENANCE_FILE};
use crate::model::{
    parse_hf_config, parse_safetensors, sha256_hex, write_delta, BertConfig, Checkpoint, DeltaManifest, DELTA_MANIFEST,
    DELTA_SCHEMA, DELTA_VERSION, DELTA_WEIGHTS,
};

pub struct ImportOptions {
    /// The base model's `tokenizer.json`: the folder's vocabulary must be the same.
    pub base_tokenizer: PathBuf,
    /// Largest |difference| allowed between the folder's embeddings and the base's (0: equal).
    pub embedding_tolerance: f32,
    /// alpha and seed to record when the folder does not carry hybrid-ir's provenance file.
    pub alpha: Option<f64>,
    pub seed: Option<u64>,
    pub git_commit: String,
}

/// What an import wrote and found.
#[derive(Debug, Clone)]
pub struct Imported {
    pub manifest: DeltaManifest,
    /// Transformer layers equal to the base's (not stored).
    pub unchanged: Vec<usize>,
    /// Largest |difference| of the embeddings from the base's.
    pub embedding_difference: f32,
}

fn format(what: &Path, message: impl Into<String>) -> InteropError {
    InteropError::Format { what: what.display().to_string(), message: message.into() }
}

fn read(path: &Path) -> Result<Vec<u8>, InteropError> {
    std::fs::read(path).map_err(|e| InteropError::io(path, e))
}

/// Largest config.json and tokenizer.json read (the real ones: about 1 KB and 17 MB).
const CONFIG_LIMIT: u64 = 1 << 20;
const TOKENIZER_LIMIT: u64 = 64 << 20;

/// `path`'s bytes, refused unread when the file is larger than `limit`.
fn read_limited(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, InteropError> {
    let bytes = std::fs::metadata(path).map_err(|e| InteropError::io(path, e))?.len();
    if bytes > limit {
        return Err(InteropError::TooLarge { path: path.display().to_string(), bytes, limit, what });
    }
    read(path)
}

/// A text file's content, refused with the byte offset when it is not UTF-8.
fn utf8(path: &Path, bytes: Vec<u8>) -> Result<String, InteropError> {
    String::from_utf8(bytes).map_err(|e| format(path, format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to())))
}

/// The most a safetensors file of `config` can hold: every tensor in f32, plus a generous header.
fn weights_limit(config: &BertConfig) -> u64 {
    let elements: usize = config.tensor_shapes().iter().map(|(_, s)| s.iter().product::<usize>()).sum();
    4 * elements as u64 + (16 << 20)
}

/// The architecture must be the base's, field by field; the first difference is named.
fn check_architecture(found: &BertConfig, base: &BertConfig, file: &Path) -> Result<(), InteropError> {
    let fields = [
        ("hidden_size", found.hidden_size, base.hidden_size),
        ("num_hidden_layers", found.num_layers, base.num_layers),
        ("num_attention_heads", found.num_heads, base.num_heads),
        ("intermediate_size", found.intermediate_size, base.intermediate_size),
        ("vocab_size", found.vocab_size, base.vocab_size),
        ("max_position_embeddings", found.max_position_embeddings, base.max_position_embeddings),
        ("type_vocab_size", found.type_vocab_size, base.type_vocab_size),
    ];
    for (name, f, b) in fields {
        if f != b {
            return Err(format(file, format!("{name} is {f}; multilingual-e5-small (the base here) has {b}: another architecture")));
        }
    }
    Ok(())
}

/// The pieces of a Unigram `tokenizer.json`, in id order.
fn vocabulary(path: &Path) -> Result<Vec<String>, InteropError> {
    let text = utf8(path, read_limited(path, TOKENIZER_LIMIT, "tokenizer.json")?)?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format(path, format!("not JSON: {e}")))?;
    let vocab = v.pointer("/model/vocab").and_then(|x| x.as_array()).ok_or_else(|| format(path, "no model.vocab list (not a Unigram tokenizer.json)"))?;
    Ok(vocab.iter().map(|p| p.get(0).and_then(|s| s.as_str()).unwrap_or_default().to_string()).collect())
}

fn check_vocabulary(found: &Path, base: &Path) -> Result<(), InteropError> {
    let (f, b) = (vocabulary(found)?, vocabulary(base)?);
    if f.len() != b.len() {
        return Err(format(found, format!("{} pieces; the base's vocabulary has {}: another vocabulary", f.len(), b.len())));
    }
    if let Some(i) = (0..f.len()).find(|&i| f[i] != b[i]) {
        return Err(format(found, format!("piece {i} is {:?}, the base's is {:?}: another vocabulary", f[i], b[i])));
    }
    Ok(())
}

/// Reads `from`, checks it against `base`, writes the checkpoint folder `out` (new or empty).
pub fn import_hf_dir(base: &Checkpoint, from: &Path, out: &Path, opts: &ImportOptions) -> Result<Imported, InteropError> {
    if out.exists() && std::fs::read_dir(out).map_err(|e| InteropError::io(out, e))?.next().is_some() {
        return Err(InteropError::NotEmpty(out.display().to_string()));
    }
    let config_path = from.join("config.json");
    let config_text = utf8(&config_path, read_limited(&config_path, CONFIG_LIMIT, "config.json")?)?;
    let raw: serde_json::Value = serde_json::from_str(&config_text).map_err(|e| format(&config_path, format!("not JSON: {e}")))?;
    let model_type = raw.get("model_type").and_then(|v| v.as_str()).unwrap_or("(none)");
    if model_type != "bert" {
        return Err(format(&config_path, format!("model_type is {model_type:?}; only BERT models (multilingual-e5-small) can be imported")));
    }
    let config = parse_hf_config(&config_text, &config_path.display().to_string())?;
    check_architecture(&config, &base.config, &config_path)?;
    check_vocabulary(&from.join("tokenizer.json"), &opts.base_tokenizer)?;
    let st_path = from.join("model.safetensors");
    let weights = parse_safetensors(&read_limited(&st_path, weights_limit(&config), "model.safetensors")?, &config, &st_path.display().to_string())?;
    let values = |w: &crate::model::Weights, name: &str| w.get(name).map(|t| t.to_f32()).unwrap_or_default();
    let mut embedding_difference = 0f32;
    for name in ["emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b"] {
        let (a, b) = (values(&weights, name), values(&base.weights, name));
        embedding_difference = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(embedding_difference, f32::max);
    }
    if embedding_difference > opts.embedding_tolerance {
        return Err(format(
            &st_path,
            format!(
                "its embeddings differ from the base's by up to {embedding_difference:.3e} (allowed {:.1e}): a checkpoint here replaces \
                 transformer layers of the 4-bit base and keeps its embeddings; a fine-tune of the float original differs by the 4-bit \
                 rounding (pass a tolerance to accept that), one that trained its word table cannot be imported",
                opts.embedding_tolerance
            ),
        ));
    }
    let shapes = config.tensor_shapes();
    let mut changed = Vec::new();
    let mut unchanged = Vec::new();
    let mut tensors = Vec::new();
    for l in 0..config.num_layers {
        let prefix = format!("l{l}.");
        let layer: Vec<&(String, Vec<usize>)> = shapes.iter().filter(|(n, _)| n.starts_with(&prefix)).collect();
        let differs = layer.iter().any(|(n, _)| {
            let (a, b) = (values(&weights, n), values(&base.weights, n));
            a.iter().zip(&b).any(|(x, y)| x.to_bits() != y.to_bits())
        });
        if differs {
            changed.push(l);
            tensors.extend(layer.iter().map(|(n, s)| (n.clone(), s.clone(), values(&weights, n))));
        } else {
            unchanged.push(l);
        }
    }
    if changed.is_empty() {
        return Err(format(from, "every transformer layer equals the base's: this is the base model, nothing to import"));
    }
    let bytes = write_delta(&tensors)?;
    // alpha, seed and the training record: from the folder's provenance (a hybrid-ir export),
    // else from the options.
    let provenance: Option<DeltaManifest> = std::fs::read(from.join(PROVENANCE_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| serde_json::from_value(v.get("manifest")?.clone()).ok());
    let (alpha, seed) = match (&provenance, opts.alpha, opts.seed) {
        (_, Some(a), Some(s)) => (a, s),
        (Some(m), _, _) => (m.alpha, m.seed),
        _ => {
            return Err(format(
                from,
                format!("it carries no {PROVENANCE_FILE} (not a hybrid-ir export): say what it was trained with (alpha and seed)"),
            ))
        }
    };
    let source = serde_json::json!({ "imported_from": from.display().to_string(), "config_sha256": sha256_hex(config_text.as_bytes()) });
    let manifest = DeltaManifest {
        schema: DELTA_SCHEMA.into(),
        version: DELTA_VERSION,
        base_sha256: base.sha256.clone(),
        weights_sha256: sha256_hex(&bytes),
        weights_bytes: bytes.len() as u64,
        layers: changed,
        alpha,
        seed,
        config: provenance.as_ref().map(|m| m.config.clone()).unwrap_or(source.clone()),
        data: provenance.as_ref().map(|m| m.data.clone()).unwrap_or_default(),
        steps: provenance.as_ref().map_or(0, |m| m.steps),
        best_step: provenance.as_ref().map_or(0, |m| m.best_step),
        best_valid_loss: provenance.as_ref().map_or(f64::INFINITY, |m| m.best_valid_loss),
        git_commit: opts.git_commit.clone(),
        history: provenance.as_ref().map(|m| m.history.clone()).unwrap_or_default(),
        train_seconds: provenance.as_ref().map_or(0.0, |m| m.train_seconds),
        complete: true,
        fingerprint: provenance.as_ref().map(|m| m.fingerprint.clone()).unwrap_or_else(|| sha256_hex(source.to_string().as_bytes())),
        code: provenance.as_ref().map(|m| m.code).unwrap_or_default(),
        train_questions: provenance.as_ref().map_or(0, |m| m.train_questions),
        valid_questions: provenance.as_ref().map_or(0, |m| m.valid_questions),
    };
    std::fs::create_dir_all(out).map_err(|e| InteropError::io(out, e))?;
    let write = |name: &str, b: &[u8]| {
        let path = out.join(name);
        crate::files::write_atomic(&path, b).map_err(|e| InteropError::io(&path, e))
    };
    write(DELTA_WEIGHTS, &bytes)?;
    write(DELTA_MANIFEST, serde_json::to_string_pretty(&manifest).unwrap_or_default().as_bytes())?;
    Ok(Imported { manifest, unchanged, embedding_difference })
}
