//! `hybrid-ir import`: a Hugging Face / sentence-transformers folder as this crate's checkpoint.

use std::path::PathBuf;

use super::paths::resolve;
use super::{load_checkpoint, CliError};
use crate::interop::{import_hf_dir, ImportOptions};

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The folder: config.json, model.safetensors (BertModel names; f32, f16 or bf16), tokenizer.json.
    #[arg(long = "from")]
    from: PathBuf,
    /// The checkpoint folder to write (new or empty): manifest.json + layers.safetensors.
    #[arg(long)]
    out: PathBuf,
    /// The alpha it was trained with, when the folder is not a hybrid-ir export (which records it).
    #[arg(long)]
    alpha: Option<f64>,
    /// The seed it was trained with (with --alpha).
    #[arg(long, requires = "alpha")]
    seed: Option<u64>,
    /// Largest |difference| accepted between its embeddings and the 4-bit base's (0 = equal;
    /// a fine-tune of the float original differs by the 4-bit rounding, about 0.1 at most).
    #[arg(long, default_value_t = 0.0)]
    embedding_tolerance: f32,
}

pub fn import(args: ImportArgs) -> Result<(), CliError> {
    if args.alpha.is_some() != args.seed.is_some() {
        return Err(CliError::Usage("--alpha and --seed go together".into()));
    }
    let base = load_checkpoint("base")?;
    let (_, base_tokenizer) = resolve("base", None)?;
    let opts = ImportOptions { base_tokenizer, embedding_tolerance: args.embedding_tolerance, alpha: args.alpha, seed: args.seed, git_commit: super::git_commit() };
    let imported = import_hf_dir(&base, &args.from, &args.out, &opts)?;
    let m = &imported.manifest;
    println!(
        "{}: layers {:?} differ from the base (stored, {} bytes), {:?} equal; embeddings within {:.1e}; alpha {} seed {}",
        args.out.display(),
        m.layers,
        m.weights_bytes,
        imported.unchanged,
        imported.embedding_difference,
        m.alpha,
        m.seed
    );
    Ok(())
}
