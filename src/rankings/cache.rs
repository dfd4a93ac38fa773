//! On-disk embedding cache: one file per (model sha256, encoding pipeline version, role, max
//! length), records of `sha256(text)` + the vector. A changed model has another sha256 and a
//! changed pipeline another version, so neither ever sees stale vectors; writes go to a temporary file renamed into place, so a crash loses nothing cached.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CacheError {
    #[error("embedding cache {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("embedding cache {path} is corrupt ({len} bytes is not a whole number of {record}-byte records); delete it")]
    Corrupt { path: String, len: usize, record: usize },
}

pub struct EmbeddingCache {
    path: PathBuf,
    dim: usize,
    index: HashMap<[u8; 32], usize>,
    vectors: Vec<f32>,
    dirty: bool,
}

fn key(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

impl EmbeddingCache {
    /// Opens (or starts) the cache for one model/pipeline version/role/length under `dir`
    /// (`pipeline` is [`crate::encoder::PIPELINE_VERSION`] for the real encoder).
    pub fn open(dir: &Path, model_sha256: &str, pipeline: u32, role: &str, max_len: usize, dim: usize) -> Result<Self, CacheError> {
        let model = &model_sha256[..model_sha256.len().min(32)];
        let path = dir.join(format!("{model}-p{pipeline}-{role}-{max_len}.emb"));
        let mut cache = EmbeddingCache { path, dim, index: HashMap::new(), vectors: Vec::new(), dirty: false };
        if cache.path.exists() {
            let bytes = std::fs::read(&cache.path).map_err(|source| CacheError::Io { path: cache.path.display().to_string(), source })?;
            let record = 32 + 4 * dim;
            if bytes.len() % record != 0 {
                return Err(CacheError::Corrupt { path: cache.path.display().to_string(), len: bytes.len(), record });
            }
            for rec in bytes.chunks_exact(record) {
                let k: [u8; 32] = rec[..32].try_into().expect("32 bytes");
                cache.index.insert(k, cache.vectors.len() / dim);
                cache.vectors.extend(rec[32..].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
            }
        }
        Ok(cache)
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Indices of `texts` not yet cached (first occurrence of each distinct text).
    pub fn missing(&self, texts: &[&str]) -> Vec<usize> {
        let mut seen = std::collections::HashSet::new();
        (0..texts.len())
            .filter(|&i| {
                let k = key(texts[i]);
                !self.index.contains_key(&k) && seen.insert(k)
            })
            .collect()
    }

    pub fn insert(&mut self, text: &str, vector: &[f32]) {
        let k = key(text);
        if !self.index.contains_key(&k) {
            self.index.insert(k, self.vectors.len() / self.dim);
            self.vectors.extend_from_slice(vector);
            self.dirty = true;
        }
    }

    /// Row-major vectors of `texts` (all must be cached).
    pub fn gather(&self, texts: &[&str]) -> Option<Vec<f32>> {
        let mut out = Vec::with_capacity(texts.len() * self.dim);
        for t in texts {
            let i = *self.index.get(&key(t))?;
            out.extend_from_slice(&self.vectors[i * self.dim..(i + 1) * self.dim]);
        }
        Some(out)
    }

    pub fn save(&mut self) -> Result<(), CacheError> {
        if !self.dirty {
            return Ok(());
        }
        let err = |source| CacheError::Io { path: self.path.display().to_string(), source };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = self.path.with_extension("emb.partial");
        let mut keys: Vec<(&[u8; 32], &usize)> = self.index.iter().collect();
        keys.sort_by_key(|(_, &i)| i);
        let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(err)?);
        for (k, &i) in keys {
            w.write_all(k).map_err(err)?;
            for v in &self.vectors[i * self.dim..(i + 1) * self.dim] {
                w.write_all(&v.to_le_bytes()).map_err(err)?;
            }
        }
        w.flush().map_err(err)?;
        drop(w);
        std::fs::rename(&tmp, &self.path).map_err(err)?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_pipeline_version_never_sees_old_vectors() {
        let dir = std::env::temp_dir().join(format!("hybrid-ir-cache-test-{}", std::process::id()));
        let mut c = EmbeddingCache::open(&dir, "ab12", 1, "query", 64, 2).unwrap();
        c.insert("hello", &[0.6, 0.8]);
        c.save().unwrap();
        let same = EmbeddingCache::open(&dir, "ab12", 1, "query", 64, 2).unwrap();
        assert_eq!(same.gather(&["hello"]), Some(vec![0.6, 0.8]));
        let newer = EmbeddingCache::open(&dir, "ab12", 2, "query", 64, 2).unwrap();
        assert!(newer.is_empty() && newer.gather(&["hello"]).is_none(), "a new pipeline version reused cached vectors");
        let other_model = EmbeddingCache::open(&dir, "cd34", 1, "query", 64, 2).unwrap();
        assert!(other_model.is_empty());
        std::fs::remove_dir_all(&dir).ok();
    }
}
