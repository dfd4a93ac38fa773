//! Resolving the model/tokenizer paths a user typed (or the defaults) into a ready encoder.

use std::path::{Path, PathBuf};

use super::{CliError, ModelArgs};
use crate::encoder::{Encoder, EncoderConfig};
use crate::model::Checkpoint;
use crate::tokenize::TextTokenizer;

/// Folder of the base model: `$HYBRID_IR_MODEL_DIR`, else `models/base`.
pub fn base_model_dir() -> PathBuf {
    std::env::var_os("HYBRID_IR_MODEL_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("models/base"))
}

fn weights_path(model: &str) -> Result<PathBuf, CliError> {
    let weights = if model == "base" { base_model_dir().join("e5-small-q4.bin") } else { PathBuf::from(model) };
    if !weights.exists() {
        let hint = if model == "base" {
            "; run `scripts/fetch-model` first (or set HYBRID_IR_MODEL_DIR)"
        } else {
            ""
        };
        return Err(CliError::Usage(format!("model not found: {}{hint}", weights.display())));
    }
    Ok(weights)
}

/// (weights path, tokenizer path) for a `--model` value.
pub fn resolve(model: &str, tokenizer: Option<&Path>) -> Result<(PathBuf, PathBuf), CliError> {
    let weights = weights_path(model)?;
    let tokenizer = match tokenizer {
        Some(t) => t.to_path_buf(),
        None => {
            let dir = if weights.is_dir() { weights.clone() } else { weights.parent().map(Path::to_path_buf).unwrap_or_default() };
            let beside = dir.join("tokenizer.json");
            if beside.exists() { beside } else { base_model_dir().join("tokenizer.json") }
        }
    };
    if !tokenizer.exists() {
        return Err(CliError::Usage(format!(
            "tokenizer not found: {} (pass --tokenizer or run `scripts/fetch-model`)",
            tokenizer.display()
        )));
    }
    Ok((weights, tokenizer))
}

/// Loads `--model`: the base, an E5S1 file, a Hugging Face folder, or a fine-tuned checkpoint
/// folder (manifest.json + layers.safetensors), which is applied on top of the base model.
pub fn load_checkpoint(model: &str) -> Result<Checkpoint, CliError> {
    let path = Path::new(model);
    if path.join(crate::model::DELTA_MANIFEST).exists() {
        let base = load_checkpoint("base")?;
        let (checkpoint, _) = crate::model::load_delta_dir(&base, path)?;
        return Ok(checkpoint);
    }
    Ok(Checkpoint::load(&weights_path(model)?)?)
}

pub fn load_encoder(args: &ModelArgs) -> Result<Encoder, CliError> {
    let is_delta = Path::new(&args.model).join(crate::model::DELTA_MANIFEST).exists();
    let (_, tokenizer) = resolve(if is_delta { "base" } else { &args.model }, args.tokenizer.as_deref())?;
    let checkpoint = load_checkpoint(&args.model)?;
    let tokenizer = TextTokenizer::from_file(&tokenizer).map_err(crate::encoder::EncodeError::from)?;
    let device = args.backend.device()?;
    let config = EncoderConfig::new()
        .with_batch_size(args.batch_size)
        .with_workers(args.workers.max(1))
        .with_max_len_query(args.max_len_query)
        .with_max_len_passage(args.max_len_passage);
    Ok(Encoder::new(&checkpoint, tokenizer, device, config)?)
}
