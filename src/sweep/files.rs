//! `results/<sweep>/sweep.json`, `models/<sweep>/manifest.json` and a cell's `failed.json`.
//!
//! Written through [`to_sorted_json`]: keys sorted at every level, as the untyped writer that
//! came before produced them, so a file rewritten by this code is byte-identical to before.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use thiserror::Error;

use crate::model::DeltaManifest;
use crate::report::Report;

pub const SWEEP_SCHEMA: &str = "hybrid-ir/sweep";
/// 2: every entry embeds its full report.
pub const SWEEP_VERSION: u32 = 2;
pub const CHECKPOINTS_SCHEMA: &str = "hybrid-ir/checkpoints";
pub const CHECKPOINTS_VERSION: u32 = 1;

#[derive(Debug, Error)]
pub enum SweepFileError {
    #[error("{path}: not a {what}: {source}")]
    Json {
        path: String,
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: schema {found:?} version {version}; expected {expected:?} version {supported} (written by another hybrid-ir?)")]
    Schema { path: String, found: String, version: u32, expected: &'static str, supported: u32 },
}

/// Every evaluated model of a sweep with its report: what the page's plots read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepFile {
    pub schema: String,
    pub version: u32,
    pub git_commit: String,
    pub base_sha256: String,
    /// The configuration every cell shares; its `alpha` and `seed` are null (they are per entry).
    pub train_config: serde_json::Value,
    pub entries: Vec<SweepEntry>,
}

/// One evaluated model: the base (no alpha, seed or checkpoint) or a cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepEntry {
    pub name: String,
    pub alpha: Option<f64>,
    pub seed: Option<u64>,
    pub checkpoint: Option<DeltaManifest>,
    pub report: Report,
}

/// The checkpoints a sweep ships (the page's models), with the hashes a consumer checks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckpointsManifest {
    pub schema: String,
    pub version: u32,
    pub base: BaseRef,
    pub checkpoints: Vec<ShippedCheckpoint>,
}

/// Where the base model the checkpoints apply to comes from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BaseRef {
    /// Relative to the manifest's folder.
    pub file: String,
    pub sha256: String,
    /// The command that fetches it.
    pub fetch: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShippedCheckpoint {
    pub name: String,
    pub alpha: f64,
    pub seed: u64,
    pub layers: Vec<usize>,
    /// Paths relative to the manifest's folder.
    pub weights: String,
    pub weights_sha256: String,
    pub weights_bytes: u64,
    pub manifest: String,
    pub manifest_sha256: String,
    pub best_valid_loss: f64,
    pub best_step: usize,
}

/// A cell's last failed stage (removed when a stage of the cell succeeds).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FailureRecord {
    pub stage: String,
    pub error: String,
    pub unix: u64,
    pub slurm_job: Option<String>,
}

/// Pretty JSON with keys sorted at every level (through `serde_json::Value`).
pub fn to_sorted_json<T: Serialize>(v: &T) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(&serde_json::to_value(v)?)
}

/// One of these files from its text; `path` names it in the error.
pub fn read_json<T: DeserializeOwned>(text: &str, path: &str, what: &'static str) -> Result<T, SweepFileError> {
    serde_json::from_str(text).map_err(|source| SweepFileError::Json { path: path.into(), what, source })
}

/// A file with a schema name and version: parsed with both checked, written with sorted keys.
pub trait Versioned: Serialize + DeserializeOwned {
    const SCHEMA: &'static str;
    const VERSION: u32;
    /// What the file is, in an error message.
    const WHAT: &'static str;
    fn stamp(&self) -> (&str, u32);

    /// Parses the file, refusing another schema or version.
    fn parse(text: &str, path: &str) -> Result<Self, SweepFileError> {
        let f: Self = read_json(text, path, Self::WHAT)?;
        let (schema, version) = f.stamp();
        check(path, schema, version, Self::SCHEMA, Self::VERSION)?;
        Ok(f)
    }

    fn to_json(&self) -> Result<String, serde_json::Error> {
        to_sorted_json(self)
    }
}

impl Versioned for SweepFile {
    const SCHEMA: &'static str = SWEEP_SCHEMA;
    const VERSION: u32 = SWEEP_VERSION;
    const WHAT: &'static str = "sweep results file";
    fn stamp(&self) -> (&str, u32) {
        (&self.schema, self.version)
    }
}

impl Versioned for CheckpointsManifest {
    const SCHEMA: &'static str = CHECKPOINTS_SCHEMA;
    const VERSION: u32 = CHECKPOINTS_VERSION;
    const WHAT: &'static str = "checkpoints manifest";
    fn stamp(&self) -> (&str, u32) {
        (&self.schema, self.version)
    }
}

fn check(path: &str, schema: &str, version: u32, expected: &'static str, supported: u32) -> Result<(), SweepFileError> {
    if schema == expected && version == supported {
        Ok(())
    } else {
        Err(SweepFileError::Schema { path: path.into(), found: schema.into(), version, expected, supported })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed files parse, and writing them back gives their bytes (apart from the
    /// trailing newline git keeps): the typed writer replaced the untyped one unchanged.
    #[test]
    fn committed_files_round_trip_byte_for_byte() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let path = root.join("models/sweep/manifest.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let m = CheckpointsManifest::parse(&text, "manifest.json").unwrap();
        assert!(m.checkpoints.iter().any(|c| c.name == "alpha-0.5-seed-1"));
        assert_eq!(m.to_json().unwrap().trim_end(), text.trim_end());
        let path = root.join("results/sweep/sweep.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let s = SweepFile::parse(&text, "sweep.json").unwrap();
        assert!(s.entries.iter().any(|e| e.name == "base" && e.alpha.is_none()));
        assert_eq!(s.to_json().unwrap().trim_end(), text.trim_end());
    }

    #[test]
    fn another_schema_or_version_is_refused_with_the_path() {
        let text = r#"{"schema":"hybrid-ir/checkpoints","version":9,"base":{"file":"b","sha256":"s","fetch":"f"},"checkpoints":[]}"#;
        let err = CheckpointsManifest::parse(text, "m/manifest.json").unwrap_err().to_string();
        assert!(err.contains("m/manifest.json") && err.contains("version 9"), "{err}");
        let err = CheckpointsManifest::parse("{\"schema\": 1}", "m/manifest.json").unwrap_err().to_string();
        assert!(err.contains("m/manifest.json: not a checkpoints manifest"), "{err}");
    }
}
