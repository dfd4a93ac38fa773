//! Checkpoints to and from the Python ecosystem: [`export`] writes a Hugging Face /
//! sentence-transformers folder, [`import`] reads one back into this crate's checkpoint format
//! (f16 deltas of the transformer layers that differ from the base).

pub mod export;
pub mod import;

use std::path::Path;

use thiserror::Error;

pub use export::{export_sentence_transformers, ExportDtype, ExportOptions, Provenance, FILES};
pub use import::{import_hf_dir, ImportOptions, Imported};

/// The exported folder's record of where it came from (the delta manifest, when there is one),
/// so an import restores alpha, seed and the training configuration. Other tools ignore it.
pub const PROVENANCE_FILE: &str = "hybrid_ir.json";

#[derive(Debug, Error)]
pub enum InteropError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {message}")]
    Format { what: String, message: String },
    /// A weights or config file the model layer refused (its message names file and tensor).
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error("{0} exists and is not empty; pass an empty or new folder (nothing was written)")]
    NotEmpty(String),
    /// Checked before reading: a file no folder of this model can hold is not read at all.
    #[error("{path}: {bytes} bytes, more than the {limit} a {what} of multilingual-e5-small can be (nothing was read)")]
    TooLarge { path: String, bytes: u64, limit: u64, what: &'static str },
}

impl InteropError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        InteropError::Io { path: path.display().to_string(), source }
    }
}


