//! Dataset readers. Each returns fully parsed, validated records or an error naming the file,
//! the record (line or path inside the JSON) and the field; nothing is half-loaded.

mod checksums;
mod mkqa;
mod squad_r;

use std::path::PathBuf;

use thiserror::Error;

pub use checksums::{verify_checksums, FileChecksum};
pub use mkqa::{parse_official, read_mia_dir, read_mia_rows, read_official, MkqaQuestion};
pub use squad_r::{parse_squad_r, read_squad_r_dir, segment_sentences, sentence_breaks, Article, Paragraph, Question, SquadRLang};

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {record}: {message}")]
    Malformed { file: String, record: String, message: String },
    #[error("{file}: checksum mismatch: SHA256SUMS says {expected}, file has {found}")]
    Checksum { file: String, expected: String, found: String },
    #[error("data folder {0} not found: pass --data DIR or set HYBRID_IR_DATA (the datasets are listed in docs/provenance.md, Data)")]
    MissingRoot(String),
}

impl SourceError {
    pub(crate) fn malformed(file: &str, record: impl Into<String>, message: impl Into<String>) -> Self {
        SourceError::Malformed { file: file.into(), record: record.into(), message: message.into() }
    }
}

/// `dir` if given, else `$HYBRID_IR_DATA`, else `../shared/data`.
pub fn data_root(dir: Option<&std::path::Path>) -> PathBuf {
    dir.map(PathBuf::from)
        .or_else(|| std::env::var_os("HYBRID_IR_DATA").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("../shared/data"))
}

pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>, SourceError> {
    std::fs::read(path).map_err(|source| SourceError::Io { path: path.display().to_string(), source })
}
