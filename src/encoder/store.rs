//! Trunk features on disk, shared by every process of a sweep: the frozen lower layers run once
//! per text list (the sweep's `prepare` stage), and each training or evaluation job, on this
//! machine or on any node of a cluster that sees the folder, loads them instead of paying for the
//! trunk again (on 2 cores it costs ~15 minutes for the evaluation tasks, more than a cell's
//! training).
//!
//! A file's name is the sha256 of everything its values depend on (model, pipeline version, role,
//! truncation length, trunk depth and the texts), so a stale entry is never read for new inputs.
//! Writers hold a per-entry lock while computing, so two jobs asking for the same entry compute it
//! once; files are written atomically and checked on read, and a damaged one is computed again.

use std::path::{Path, PathBuf};

use super::{EncodeError, Encoder, Features, PIPELINE_VERSION};
use crate::files::{write_atomic, Lock};
use crate::tokenize::Role;

/// Where a [`TrunkStore::features`] result came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    Loaded,
    Computed,
    /// The stored file was unreadable (the reason) and was computed again.
    Replaced(String),
}

/// A folder of trunk features.
#[derive(Debug, Clone)]
pub struct TrunkStore {
    dir: PathBuf,
}

impl TrunkStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        TrunkStore { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file holding layers `[0, split)` of `encoder` on `texts` in `role`.
    pub fn path(&self, encoder: &Encoder, texts: &[&str], role: Role, split: usize) -> PathBuf {
        let role_name = match role {
            Role::Query => "query",
            Role::Passage => "passage",
        };
        let head = format!(
            "{}|{PIPELINE_VERSION}|{role_name}|{}|{split}|{}",
            encoder.model_sha256,
            encoder.config.max_len(role),
            texts.len()
        );
        let key = crate::model::sha256_hex(format!("{head}|{}", texts.join("\u{1f}")).as_bytes());
        self.dir.join(format!("{role_name}-{split}-{}.trunk", &key[..32]))
    }

    /// Whether the entry exists (not whether it is intact: [`TrunkStore::features`] checks that).
    pub fn contains(&self, encoder: &Encoder, texts: &[&str], role: Role, split: usize) -> bool {
        self.path(encoder, texts, role, split).is_file()
    }

    /// The stored features, or computed (with `progress` per text), stored and returned.
    pub fn features(
        &self,
        encoder: &Encoder,
        texts: &[&str],
        role: Role,
        split: usize,
        progress: impl FnMut(usize),
    ) -> Result<(Features, Origin), EncodeError> {
        let path = self.path(encoder, texts, role, split);
        let store_err = |e: std::io::Error| EncodeError::Store { path: path.display().to_string(), message: e.to_string() };
        // Files appear by atomic rename, so a reader needs no lock: many jobs load one entry at
        // once. Only a miss (or a damaged file) takes the entry's lock, and looks again under it.
        if let Ok(Some(f)) = read_entry(&path, texts.len(), split) {
            return Ok((f, Origin::Loaded));
        }
        std::fs::create_dir_all(&self.dir).map_err(store_err)?;
        let _lock = Lock::acquire(&path.with_extension("lock"), |_| {}).map_err(store_err)?;
        let origin = match read_entry(&path, texts.len(), split) {
            Ok(Some(f)) => return Ok((f, Origin::Loaded)),
            Ok(None) => Origin::Computed,
            Err(why) => Origin::Replaced(why),
        };
        let features = encoder.features(texts, role, split, progress)?;
        write_atomic(&path, &features.to_bytes()).map_err(store_err)?;
        Ok((features, origin))
    }
}

/// The entry at `path` if it is there and intact; an error says why a present file is unusable.
fn read_entry(path: &Path, texts: usize, split: usize) -> Result<Option<Features>, String> {
    let Ok(bytes) = std::fs::read(path) else { return Ok(None) };
    let f = Features::from_bytes(&bytes)?;
    if f.len() != texts || f.layer != split {
        return Err(format!("{} texts at layer {}, expected {texts} at {split}", f.len(), f.layer));
    }
    Ok(Some(f))
}
