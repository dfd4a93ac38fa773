//! The web page's engine run natively on a bundle folder (`hybrid-ir web-assets` output): the
//! same files, verified against the same manifest, put together by the same `assets::engine`
//! code as the page's worker. `search --assets` uses it for parity checks, and `web-assets` for
//! measuring what the page's path costs in mAP.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{CliError, ModelArgs};
use crate::assets::{decode_int8, engine, AssetManifest, Example, FileEntry, ModelEntry, PoolTexts};
use crate::encoder::{EncodeError, Encoder, EncoderConfig};
use crate::model::{sha256_hex, WordTable};
use crate::tokenize::{Role, TextTokenizer};

pub struct PageEngine {
    dir: PathBuf,
    pub manifest: AssetManifest,
    pub model: ModelEntry,
    pub encoder: Encoder,
    /// The word table as far as fetched: grows with the queries, like the page's.
    words: WordTable,
    pub shard_bytes_read: u64,
}

impl PageEngine {
    /// Opens `model` (default: the bundle's default model) of the bundle in `dir`.
    pub fn open(dir: &Path, model: Option<&str>, args: &ModelArgs) -> Result<PageEngine, CliError> {
        let text = std::fs::read(dir.join("manifest.json")).map_err(|e| CliError::io(dir.join("manifest.json").display(), e))?;
        let manifest: AssetManifest =
            serde_json::from_slice(&text).map_err(|e| CliError::json(format!("{}/manifest.json", dir.display()), e))?;
        let name = model.map(str::to_string).unwrap_or_else(|| manifest.default_model.clone());
        let entry = manifest
            .models
            .iter()
            .find(|m| m.name == name)
            .cloned()
            .ok_or_else(|| CliError::Bundle(format!("model {name} is not in the bundle {}", dir.display())))?;
        let checked = |f: &FileEntry| read_checked(dir, f);
        let mut tok_json = Vec::new();
        flate2::read::GzDecoder::new(&checked(&manifest.tokenizer)?[..])
            .read_to_end(&mut tok_json)
            .map_err(|e| CliError::io(&manifest.tokenizer.path, e))?;
        let tokenizer = TextTokenizer::from_bytes(&tok_json, &manifest.tokenizer.path).map_err(EncodeError::from)?;
        let trunk = engine::base_checkpoint(&manifest, &checked(&manifest.model)?).map_err(CliError::Usage)?;
        let delta = match (&entry.delta, &entry.delta_manifest) {
            (Some(d), Some(m)) => Some((checked(d)?, checked(m)?)),
            _ => None,
        };
        let config = EncoderConfig::new()
            .with_workers(1)
            .with_batch_size(args.batch_size)
            .with_max_len_query(args.max_len_query)
            .with_max_len_passage(args.max_len_passage);
        let delta = delta.as_ref().map(|(a, b)| (a.as_slice(), b.as_slice()));
        let encoder =
            engine::encoder(&manifest, &trunk, tokenizer, &name, delta, args.backend.device()?, config).map_err(CliError::Usage)?;
        let words = encoder.words.clone();
        Ok(PageEngine { dir: dir.to_path_buf(), manifest, model: entry, encoder, words, shard_bytes_read: 0 })
    }

    /// Reads the word-table shards `texts` (in `role`) need that are not loaded yet.
    pub fn load_words(&mut self, texts: &[&str], role: Role) -> Result<(), CliError> {
        let max_len = self.encoder.config.max_len(role);
        let mut ids = Vec::new();
        for t in texts {
            ids.extend(self.encoder.tokenizer.encode(t, role, max_len).map_err(EncodeError::from)?.0);
        }
        let shards = &self.manifest.words;
        let mut fetched = Vec::new();
        for i in engine::missing_shards(&self.words, shards, &ids) {
            let entry = shards.entry(i).ok_or_else(|| CliError::Bundle(format!("word shard {i} is not in the manifest")))?;
            let bytes = read_checked(&self.dir, &entry)?;
            self.shard_bytes_read += bytes.len() as u64;
            fetched.push((i, bytes));
        }
        engine::add_shards(&mut self.words, shards, &fetched).map_err(CliError::Usage)?;
        self.encoder.words = self.words.clone();
        Ok(())
    }

    /// Embeddings of `texts` in `role`, row-major, fetching word shards first as the page does.
    pub fn encode(&mut self, texts: &[&str], role: Role, progress: impl FnMut(usize)) -> Result<Vec<f32>, CliError> {
        self.load_words(texts, role)?;
        Ok(self.encoder.encode(texts, role, progress)?.data)
    }

    /// A file of the bundle, checked against its manifest entry.
    pub fn read(&self, entry: &FileEntry) -> Result<Vec<u8>, CliError> {
        read_checked(&self.dir, entry)
    }

    /// The model's int8 embeddings of `pool`, decoded.
    pub fn pool_vectors(&self, pool: &str) -> Result<Vec<f32>, CliError> {
        let file = self.model.pools.get(pool).ok_or_else(|| CliError::Bundle(format!("{} has no {pool} index", self.model.name)))?;
        Ok(decode_int8(&read_checked(&self.dir, file)?, &file.path).map_err(CliError::Usage)?.0)
    }

    /// The bundle's example questions.
    pub fn examples(&self) -> Result<Vec<Example>, CliError> {
        let f = &self.manifest.examples;
        serde_json::from_slice(&read_checked(&self.dir, f)?).map_err(|e| CliError::json(self.dir.join(&f.path).display(), e))
    }

    pub fn pool_texts(&self, pool: &str) -> Result<PoolTexts, CliError> {
        let entry = self.manifest.pools.iter().find(|p| p.name == pool).ok_or_else(|| CliError::Bundle(format!("pool {pool} is not in the bundle")))?;
        PoolTexts::from_json(&read_checked(&self.dir, &entry.texts)?, &entry.texts.path).map_err(CliError::Bundle)
    }
}

fn read_checked(dir: &Path, f: &FileEntry) -> Result<Vec<u8>, CliError> {
    let path = dir.join(&f.path);
    let bytes = std::fs::read(&path).map_err(|e| CliError::io(path.display(), e))?;
    if sha256_hex(&bytes) != f.sha256 {
        return Err(CliError::Bundle(format!("{}: sha256 does not match the bundle manifest; rebuild with `hybrid-ir web-assets`", path.display())));
    }
    Ok(bytes)
}
