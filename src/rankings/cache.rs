//! On-disk embedding cache: one file per (model sha256, encoding pipeline version, role, max
//! length). A changed model has another sha256 and a changed pipeline another version, so
//! neither ever sees stale vectors.
//!
//! File (little-endian): `HIEC`, u32 format version, u32 dim, then records of `sha256(text)`,
//! `dim` f32 and an 8-byte check (the first bytes of sha256 over key and vector), so a reader
//! can prove every entry intact ([`verify_file`]). Saves merge what another process saved
//! meanwhile and are atomic ([`crate::files`]): two `eval` runs sharing a cache, or a
//! `kill -9` in the middle of a save, leave whole files with intact records.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use thiserror::Error;

const MAGIC: &[u8; 4] = b"HIEC";
const FORMAT: u32 = 2;
const HEADER: usize = 12;
const CHECK: usize = 8;

#[derive(Debug, Error)]
pub enum CacheError {
    #[error("embedding cache {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("embedding cache {path} is corrupt: {what}; delete it (it is rebuilt on the next run)")]
    Corrupt { path: String, what: String },
    #[error("embedding cache {path} has no vector for {missing} of the texts asked for")]
    Missing { path: String, missing: usize },
}

pub struct EmbeddingCache {
    path: PathBuf,
    dim: usize,
    index: HashMap<[u8; 32], usize>,
    vectors: Vec<f32>,
    dirty: bool,
    /// Length and modification time of the file as last read or written: a save re-reads it
    /// only when another process has changed it since.
    on_disk: Option<(u64, std::time::SystemTime)>,
}

fn stamp(path: &Path) -> Option<(u64, std::time::SystemTime)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

fn key(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn check(key: &[u8], vector: &[u8]) -> [u8; CHECK] {
    let mut h = Sha256::new();
    h.update(key);
    h.update(vector);
    h.finalize()[..CHECK].try_into().expect("8 bytes")
}

/// The records of a cache file, every one checked: `(key, vector)` in file order. `Ok(None)` for a
/// file of the headerless format 1, which is ignored (and replaced on the next save).
/// One cache record: the text's key and its vector.
type Record = ([u8; 32], Vec<f32>);

fn read_records(bytes: &[u8], dim: usize, path: &Path) -> Result<Option<Vec<Record>>, CacheError> {
    let corrupt = |what: String| CacheError::Corrupt { path: path.display().to_string(), what };
    if bytes.len() < HEADER || &bytes[..4] != MAGIC {
        return Ok(None);
    }
    let format = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    let file_dim = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize;
    if format != FORMAT || file_dim != dim {
        return Err(corrupt(format!("format {format}, dimension {file_dim}; expected format {FORMAT}, dimension {dim}")));
    }
    let record = 32 + 4 * dim + CHECK;
    let body = &bytes[HEADER..];
    if !body.len().is_multiple_of(record) {
        return Err(corrupt(format!("{} bytes of records is not a whole number of {record}-byte records", body.len())));
    }
    let mut out = Vec::with_capacity(body.len() / record);
    for (i, rec) in body.chunks_exact(record).enumerate() {
        let (k, rest) = rec.split_at(32);
        let (v, c) = rest.split_at(4 * dim);
        if check(k, v) != c {
            return Err(corrupt(format!("record {i} fails its check")));
        }
        let vector = v.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect();
        out.push((k.try_into().expect("32 bytes"), vector));
    }
    Ok(Some(out))
}

/// Checks every record of a cache file of dimension `dim`; returns how many there are.
pub fn verify_file(path: &Path, dim: usize) -> Result<usize, CacheError> {
    let bytes = std::fs::read(path).map_err(|source| CacheError::Io { path: path.display().to_string(), source })?;
    match read_records(&bytes, dim, path)? {
        Some(records) => Ok(records.len()),
        None => Err(CacheError::Corrupt { path: path.display().to_string(), what: "no HIEC header".into() }),
    }
}

impl EmbeddingCache {
    /// Opens (or starts) the cache for one model/pipeline version/role/length under `dir`
    /// (`pipeline` is [`crate::encoder::PIPELINE_VERSION`] for the real encoder).
    pub fn open(dir: &Path, model_sha256: &str, pipeline: u32, role: &str, max_len: usize, dim: usize) -> Result<Self, CacheError> {
        let model = &model_sha256[..model_sha256.len().min(32)];
        let path = dir.join(format!("{model}-p{pipeline}-{role}-{max_len}.emb"));
        let mut cache = EmbeddingCache { path, dim, index: HashMap::new(), vectors: Vec::new(), dirty: false, on_disk: None };
        cache.merge_from_disk()?;
        cache.dirty = false;
        Ok(cache)
    }

    /// The file this cache lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds the entries of the file on disk that this cache lacks (another process may have
    /// saved since we opened it).
    fn merge_from_disk(&mut self) -> Result<(), CacheError> {
        let now = stamp(&self.path);
        if now.is_none() || now == self.on_disk {
            return Ok(());
        }
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(CacheError::Io { path: self.path.display().to_string(), source }),
        };
        let records = read_records(&bytes, self.dim, &self.path)?;
        self.on_disk = now;
        for (k, v) in records.unwrap_or_default() {
            if !self.index.contains_key(&k) {
                self.index.insert(k, self.vectors.len() / self.dim.max(1));
                self.vectors.extend_from_slice(&v);
                self.dirty = true;
            }
        }
        Ok(())
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

    /// Caches `vector` for `text` (ignored when its length is not the cache's dimension).
    pub fn insert(&mut self, text: &str, vector: &[f32]) {
        let k = key(text);
        if vector.len() == self.dim && !self.index.contains_key(&k) {
            self.index.insert(k, self.vectors.len() / self.dim.max(1));
            self.vectors.extend_from_slice(vector);
            self.dirty = true;
        }
    }

    /// Row-major vectors of `texts` (all must be cached).
    pub fn gather(&self, texts: &[&str]) -> Result<Vec<f32>, CacheError> {
        let mut out = Vec::with_capacity(texts.len() * self.dim);
        let mut missing = 0;
        for t in texts {
            match self.index.get(&key(t)) {
                Some(&i) => out.extend_from_slice(&self.vectors[i * self.dim..(i + 1) * self.dim]),
                None => missing += 1,
            }
        }
        if missing > 0 {
            return Err(CacheError::Missing { path: self.path.display().to_string(), missing });
        }
        Ok(out)
    }

    /// Writes the cache, merged with what is on disk now, atomically.
    pub fn save(&mut self) -> Result<(), CacheError> {
        if !self.dirty {
            return Ok(());
        }
        let path = self.path.display().to_string();
        let err = |source| CacheError::Io { path: path.clone(), source };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        // A file another process left corrupt is replaced rather than merged.
        match self.merge_from_disk() {
            Ok(()) | Err(CacheError::Corrupt { .. }) => {}
            Err(e) => return Err(e),
        }
        let mut keys: Vec<(&[u8; 32], &usize)> = self.index.iter().collect();
        keys.sort_by_key(|(_, &i)| i);
        let (dim, vectors) = (self.dim, &self.vectors);
        crate::files::write_atomic_with(&self.path, |w| {
            w.write_all(MAGIC)?;
            w.write_all(&FORMAT.to_le_bytes())?;
            w.write_all(&(dim as u32).to_le_bytes())?;
            let mut v = Vec::with_capacity(4 * dim);
            for (k, &i) in keys {
                v.clear();
                v.extend(vectors[i * dim..(i + 1) * dim].iter().flat_map(|x| x.to_le_bytes()));
                w.write_all(k)?;
                w.write_all(&v)?;
                w.write_all(&check(k, &v))?;
            }
            Ok(())
        })
        .map_err(err)?;
        self.on_disk = stamp(&self.path);
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
        assert_eq!(same.gather(&["hello"]).ok(), Some(vec![0.6, 0.8]));
        let newer = EmbeddingCache::open(&dir, "ab12", 2, "query", 64, 2).unwrap();
        assert!(newer.is_empty() && newer.gather(&["hello"]).is_err(), "a new pipeline version reused cached vectors");
        let other_model = EmbeddingCache::open(&dir, "cd34", 1, "query", 64, 2).unwrap();
        assert!(other_model.is_empty());
        std::fs::remove_dir_all(&dir).ok();
    }
}

#[cfg(test)]
mod integrity {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hybrid-ir-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_flipped_byte_is_caught_by_the_record_check() {
        let d = dir("flip");
        let mut c = EmbeddingCache::open(&d, "ab", 2, "query", 8, 3).unwrap();
        for i in 0..5 {
            c.insert(&format!("text {i}"), &[i as f32, 0.5, -1.0]);
        }
        c.save().unwrap();
        assert_eq!(verify_file(c.path(), 3).unwrap(), 5);
        let good = std::fs::read(c.path()).unwrap();
        // Every byte after the header, flipped, is detected (or, in the header, refused).
        for pos in 0..good.len() {
            let mut bad = good.clone();
            bad[pos] ^= 0x20;
            std::fs::write(c.path(), &bad).unwrap();
            let r = verify_file(c.path(), 3);
            assert!(r.is_err(), "flipping byte {pos} went unnoticed");
        }
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn two_writers_keep_both_sets_of_entries() {
        let d = dir("merge");
        let mut a = EmbeddingCache::open(&d, "ab", 2, "query", 8, 2).unwrap();
        let mut b = EmbeddingCache::open(&d, "ab", 2, "query", 8, 2).unwrap();
        a.insert("from a", &[1.0, 0.0]);
        b.insert("from b", &[0.0, 1.0]);
        a.save().unwrap();
        b.save().unwrap();
        let c = EmbeddingCache::open(&d, "ab", 2, "query", 8, 2).unwrap();
        assert_eq!(c.gather(&["from a", "from b"]).ok(), Some(vec![1.0, 0.0, 0.0, 1.0]), "the second save dropped the first's entries");
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn threads_saving_at_once_never_leave_a_bad_file() {
        let d = dir("race");
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let d = d.clone();
                std::thread::spawn(move || {
                    for round in 0..25 {
                        let mut c = EmbeddingCache::open(&d, "ab", 2, "query", 8, 4).unwrap();
                        c.insert(&format!("{t}-{round}"), &[t as f32, round as f32, 1.0, 2.0]);
                        c.save().unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let c = EmbeddingCache::open(&d, "ab", 2, "query", 8, 4).unwrap();
        // Every record intact; a save racing another may drop the other's newest entries (they are
        // encoded again when needed), never mix them.
        assert!(verify_file(c.path(), 4).unwrap() >= 25);
        let leftovers: Vec<_> = std::fs::read_dir(&d).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().ends_with(".partial")).collect();
        assert!(leftovers.is_empty());
        std::fs::remove_dir_all(&d).ok();
    }
}
