//! What the web page downloads, and the manifest that lists it: the model's trunk (everything but
//! the word table), the word table in shards fetched as queries need them, the tokenizer,
//! checkpoint deltas, candidate pools with precomputed (int8) embeddings per checkpoint, example
//! questions and the sweep's results. Written natively by
//! `hybrid-ir web-assets`, read by the page, which verifies every file's sha256 before use.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::sources::FileChecksum;

pub mod reproduce;

pub const ASSETS_SCHEMA: &str = "hybrid-ir/web-assets";
pub const ASSETS_VERSION: u32 = 2;

/// One file of the bundle, relative to the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

/// The full 4-bit word table cut into runs of `rows_per_shard` rows (the last may be shorter),
/// file `i` at `{dir}/{i:04}.q4`. A query fetches only the shards holding its tokens: the whole
/// table is 54 MB, a query needs about 0.6 MB of it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WordShards {
    pub dir: String,
    pub rows: usize,
    pub rows_per_shard: usize,
    pub row_bytes: usize,
    /// sha256 of each shard, in order.
    pub sha256: Vec<String>,
}

impl WordShards {
    /// The manifest's numbers come from a file: every product below saturates instead of wrapping.
    pub fn shard_of(&self, id: u32) -> usize {
        id as usize / self.rows_per_shard.max(1)
    }

    pub fn first_row(&self, shard: usize) -> u32 {
        u32::try_from(shard.saturating_mul(self.rows_per_shard)).unwrap_or(u32::MAX)
    }

    /// The file of shard `i` as a manifest entry (None past the end).
    pub fn entry(&self, i: usize) -> Option<FileEntry> {
        let sha256 = self.sha256.get(i)?.clone();
        let rows = self.rows.saturating_sub(i.saturating_mul(self.rows_per_shard)).min(self.rows_per_shard);
        Some(FileEntry { path: format!("{}/{i:04}.q4", self.dir), sha256, bytes: (rows as u64).saturating_mul(self.row_bytes as u64) })
    }

    pub fn total_bytes(&self) -> u64 {
        (self.rows as u64).saturating_mul(self.row_bytes as u64)
    }
}

/// A model the page can run: the base, or the base plus a fine-tuned delta.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelEntry {
    pub name: String,
    /// None for the base model.
    pub alpha: Option<f64>,
    pub seed: Option<u64>,
    /// Identity of the full-vocabulary model (as in evaluation reports).
    pub sha256: String,
    pub delta: Option<FileEntry>,
    pub delta_manifest: Option<FileEntry>,
    /// Pool name -> int8 embeddings of that pool by this model.
    pub pools: BTreeMap<String, FileEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PoolEntry {
    pub name: String,
    pub title: String,
    pub texts: FileEntry,
    pub count: usize,
    pub langs: Vec<String>,
}

/// Pool candidates: parallel arrays.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PoolTexts {
    pub ids: Vec<String>,
    pub langs: Vec<String>,
    pub texts: Vec<String>,
}

impl PoolTexts {
    /// Parses a pool file and checks that its three arrays line up (every later index relies on it).
    pub fn from_json(bytes: &[u8], file: &str) -> Result<PoolTexts, String> {
        let t: PoolTexts = serde_json::from_slice(bytes).map_err(|e| format!("{file}: {e}"))?;
        if t.ids.len() != t.texts.len() || t.langs.len() != t.texts.len() {
            return Err(format!("{file}: {} ids, {} languages and {} texts; expected one of each per candidate", t.ids.len(), t.langs.len(), t.texts.len()));
        }
        Ok(t)
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }
}

/// A dataset question offered as an example; `relevant` indexes the pool it belongs to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Example {
    pub qid: String,
    pub lang: String,
    pub text: String,
    pub pool: Option<String>,
    pub relevant: Vec<u32>,
}

/// The versions of the bundle's question `qid` (one per language, sorted by language) and the
/// pool their `relevant` candidates index: what a [`crate::metrics::LanguageMatrix`] is drawn from.
/// Versions that disagree on pool or answers are an error (a damaged examples file).
pub fn question_versions<'a>(examples: &'a [Example], qid: &str) -> Result<(&'a str, Vec<&'a Example>), String> {
    let mut versions: Vec<&Example> = examples.iter().filter(|e| e.qid == qid && e.pool.is_some()).collect();
    let first = *versions.first().ok_or_else(|| format!("the bundle has no question {qid} with answers in a pool"))?;
    if let Some(odd) = versions.iter().find(|e| e.pool != first.pool || e.relevant != first.relevant) {
        return Err(format!("question {qid}: its {} version names other answers than its {} version", odd.lang, first.lang));
    }
    versions.sort_by(|a, b| a.lang.cmp(&b.lang));
    versions.dedup_by(|a, b| a.lang == b.lang);
    Ok((first.pool.as_deref().unwrap_or_default(), versions))
}

/// What a matrix encodes for `versions`: (language, text trimmed as a search trims its query;
/// dataset texts can end in a space, which would tokenise differently).
pub fn matrix_queries(versions: &[&Example]) -> Vec<(String, String)> {
    versions.iter().map(|e| (e.lang.clone(), e.text.trim().to_string())).collect()
}

/// Questions asked in at least two languages against a pool, in the examples' order:
/// (qid, pool, number of languages).
pub fn matrix_questions(examples: &[Example]) -> Vec<(&str, &str, usize)> {
    let mut out: Vec<(&str, &str, usize)> = Vec::new();
    for e in examples {
        let Some(pool) = e.pool.as_deref() else { continue };
        match out.iter_mut().find(|(q, p, _)| *q == e.qid && *p == pool) {
            Some(entry) => entry.2 += 1,
            None => out.push((&e.qid, pool, 1)),
        }
    }
    out.retain(|q| q.2 >= 2);
    out
}

/// The question the bias view opens on: the first of the held-out XQuAD-R sentence pool (each
/// language's answer is its own sentence there; many MKQA answers are the same string in every
/// Latin-script language, and tie), else the first asked in several languages.
pub fn default_matrix_question(examples: &[Example]) -> Option<&str> {
    let questions = matrix_questions(examples);
    questions.iter().find(|q| q.1 == "xquad-r").or(questions.first()).map(|q| q.0)
}

/// Most bytes a user's checkpoint may have (both files; a 2-layer f16 delta is 7.1 MB, all 12
/// layers about 43 MB): the page reads the files into memory, so the limit is said up front.
pub const MAX_CHECKPOINT_BYTES: u64 = 64_000_000;

/// The two files of a checkpoint folder (`hybrid-ir train`: `manifest.json` and
/// `layers.safetensors`) among the files a user picked, as (name, size): their positions, or
/// what is wrong, before anything is read.
pub fn pick_checkpoint_files(files: &[(String, u64)]) -> Result<(usize, usize), String> {
    let find = |name: &str| files.iter().position(|(n, _)| n == name);
    let (Some(m), Some(l)) = (find(crate::model::DELTA_MANIFEST), find(crate::model::DELTA_WEIGHTS)) else {
        let got = files.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ");
        return Err(format!(
            "pick the two files of a checkpoint folder written by `hybrid-ir train`: {} and {} (got: {})",
            crate::model::DELTA_MANIFEST,
            crate::model::DELTA_WEIGHTS,
            if got.is_empty() { "nothing" } else { &got }
        ));
    };
    let total = files[m].1 + files[l].1;
    if total > MAX_CHECKPOINT_BYTES {
        return Err(format!("the checkpoint has {:.1} MB; the page takes at most {:.0} MB", total as f64 / 1e6, MAX_CHECKPOINT_BYTES as f64 / 1e6));
    }
    Ok((m, l))
}

/// How much the browser's compressed pools cost in retrieval quality (its weights are the
/// native ones: 4-bit base, f16 deltas, every word-table row available).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Compression {
    /// Held-out text (Mintaka questions): share of tokens the tokenizer maps to `<unk>`, per
    /// language.
    pub unk_rate: BTreeMap<String, f64>,
    /// MKQA-R multilingual mAP, native f32 pool vs the page's path (int8 pool), per model checked.
    pub map_native: BTreeMap<String, f64>,
    pub map_browser: BTreeMap<String, f64>,
    /// Mean word-table bytes an MKQA question fetches, when it is the first query of a visit.
    pub first_query_shard_bytes: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AssetManifest {
    pub schema: String,
    pub version: u32,
    pub git_commit: String,
    pub created_unix: u64,
    /// sha256 of the full base model file the trunk derives from.
    pub base_sha256: String,
    /// The base model with a word table of the special tokens only.
    pub model: FileEntry,
    pub words: WordShards,
    /// gzip-compressed tokenizer.json.
    pub tokenizer: FileEntry,
    pub models: Vec<ModelEntry>,
    /// The model a fresh page opens with.
    pub default_model: String,
    pub pools: Vec<PoolEntry>,
    pub examples: FileEntry,
    pub results: Option<FileEntry>,
    pub compression: Compression,
    pub data: Vec<FileChecksum>,
    /// Set for a quick bundle whose pools were cut (`web-assets --pool-limit`), e.g. the tests'.
    #[serde(default)]
    pub pool_limit: Option<usize>,
    /// Tasks the page can reproduce (the "Reproduce" view); empty in bundles made before it.
    #[serde(default)]
    pub reproduce: Vec<reproduce::ReproduceEntry>,
}

/// Int8 embedding rows with one f32 scale per row (`value = q * scale`): a quarter of f32's
/// bytes. File layout: `HIE8`, u32 rows, u32 dim, rows x f32 scales, rows x dim i8.
pub fn encode_int8(data: &[f32], dim: usize) -> Vec<u8> {
    let rows = data.len() / dim.max(1);
    let mut out = Vec::with_capacity(12 + rows * (4 + dim));
    out.extend_from_slice(b"HIE8");
    out.extend_from_slice(&(rows as u32).to_le_bytes());
    out.extend_from_slice(&(dim as u32).to_le_bytes());
    let mut q = Vec::with_capacity(rows * dim);
    for r in 0..rows {
        let row = &data[r * dim..(r + 1) * dim];
        let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        out.extend_from_slice(&scale.to_le_bytes());
        q.extend(row.iter().map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8 as u8));
    }
    out.extend_from_slice(&q);
    out
}

/// Inverse of [`encode_int8`]: `(values, dim)`.
pub fn decode_int8(bytes: &[u8], file: &str) -> Result<(Vec<f32>, usize), String> {
    let bad = |m: &str| format!("{file}: {m}");
    if bytes.len() < 12 || &bytes[..4] != b"HIE8" {
        return Err(bad("not an int8 embedding file (magic HIE8)"));
    }
    let rows = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    let dim = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    let need = (rows as u64).checked_mul(4 + dim as u64).and_then(|n| n.checked_add(12)).unwrap_or(u64::MAX);
    if dim == 0 && rows > 0 {
        return Err(bad("dimension 0"));
    }
    if bytes.len() as u64 != need {
        return Err(bad(&format!("{rows} x {dim} needs {need} bytes, file has {}", bytes.len())));
    }
    let scales = &bytes[12..12 + rows * 4];
    let q = &bytes[12 + rows * 4..];
    let mut out = Vec::with_capacity(rows * dim);
    for r in 0..rows {
        let s = f32::from_le_bytes([scales[4 * r], scales[4 * r + 1], scales[4 * r + 2], scales[4 * r + 3]]);
        out.extend(q[r * dim..(r + 1) * dim].iter().map(|&b| b as i8 as f32 * s));
    }
    Ok((out, dim))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A [`engine::MatrixQuestion`] from positional parts, to keep the tests short.
    fn mq<'a>(queries: &'a [f32], query_langs: &'a [String], vectors: &'a [f32], langs: &'a [u16], lang_names: &'a [String], relevant: &'a [u32]) -> engine::MatrixQuestion<'a> {
        engine::MatrixQuestion { queries, query_langs, vectors, langs, lang_names, relevant }
    }

    #[test]
    fn language_matrix_ranks_each_version_of_a_question() {
        let texts = PoolTexts {
            ids: (0..4).map(|i| format!("c{i}")).collect(),
            langs: ["en", "de", "en", "de"].map(String::from).to_vec(),
            texts: vec![String::new(); 4],
        };
        let (langs, names) = engine::pool_langs(&texts);
        assert_eq!((langs.as_slice(), names.as_slice()), (&[1u16, 0, 1, 0][..], &["de".to_string(), "en".to_string()][..]));
        let pool = [1.0, 0.0, 0.0, 1.0, 0.6, 0.8, 0.8, 0.6];
        let queries = [1.0, 0.0, 0.0, 1.0];
        let q_langs = ["en".to_string(), "de".to_string()];
        let m = mq(&queries, &q_langs, &pool, &langs, &names, &[0, 1]).matrix().unwrap();
        assert_eq!(m.answer_langs, ["de", "en"]);
        assert_eq!(m.ranks, [[Some(4), Some(1)], [Some(1), Some(4)]]);
        assert_eq!(m.own_language_first(), (2.0, 2));
        // Candidates 2 and 3 made identical: a tie shares the better rank.
        let tied = [1.0, 0.0, 0.0, 1.0, 0.6, 0.8, 0.6, 0.8];
        let m = mq(&[0.6, 0.8], &q_langs[..1], &tied, &langs, &names, &[2, 3]).matrix().unwrap();
        assert_eq!(m.ranks, [[Some(1), Some(1)]]);
        assert!(mq(&queries[..3], &q_langs, &pool, &langs, &names, &[0]).matrix().is_err());
        assert!(mq(&queries, &q_langs, &pool, &langs, &names, &[4]).matrix().is_err(), "a candidate outside the pool");
        assert!(mq(&[], &[], &pool, &langs, &names, &[0]).matrix().is_err());
    }

    #[test]
    fn a_matrix_band_spans_the_near_ties_only() {
        let names = ["de".to_string(), "en".to_string()];
        let langs = [1u16, 0, 1, 0, 0];
        // Against the query [1, 0]: 0.9 above, then the answer 0.8 with a rival 1e-6 above it,
        // the same answer in German (an exact tie, which stays one) and 0.5 below.
        let pool = [0.9, 0.0, 0.800001, 0.0, 0.8, 0.0, 0.5, 0.0, 0.8, 0.0];
        let q_langs = ["en".to_string()];
        let exact = mq(&[1.0, 0.0], &q_langs, &pool, &langs, &names, &[2]).matrix().unwrap();
        assert_eq!(exact.ranks, [[Some(3)]]);
        let both = mq(&[1.0, 0.0], &q_langs, &pool, &langs, &names, &[2, 4]).matrix().unwrap();
        let (low, high) = mq(&[1.0, 0.0], &q_langs, &pool, &langs, &names, &[2, 4]).band(1e-5).unwrap();
        assert_eq!((both.ranks, low.ranks, high.ranks), (vec![vec![Some(3), Some(3)]], vec![vec![Some(2), Some(2)]], vec![vec![Some(3), Some(3)]]));
        let (low, high) = mq(&[1.0, 0.0], &q_langs, &pool, &langs, &names, &[2]).band(1e-5).unwrap();
        assert_eq!((low.ranks, high.ranks), (vec![vec![Some(2)]], vec![vec![Some(3)]]), "the rival is within the tolerance");
        let (low, high) = mq(&[1.0, 0.0], &q_langs, &pool, &langs, &names, &[2]).band(1e-7).unwrap();
        assert_eq!((low.ranks, high.ranks), (exact.ranks.clone(), exact.ranks), "a gap of 1e-6 is no tie at 1e-7");
    }

    #[test]
    fn a_question_s_versions_come_sorted_and_must_agree() {
        let ex = |qid: &str, lang: &str, pool: Option<&str>, rel: &[u32]| Example {
            qid: qid.into(),
            lang: lang.into(),
            text: format!("{qid} in {lang}"),
            pool: pool.map(String::from),
            relevant: rel.to_vec(),
        };
        let examples = vec![
            ex("q1", "ru", Some("mkqa"), &[3, 9]),
            ex("q1", "en", Some("mkqa"), &[3, 9]),
            ex("q2", "en", None, &[]),
            ex("q2", "de", None, &[]),
            ex("q3", "en", Some("mkqa"), &[1]),
            ex("q4", "en", Some("mkqa"), &[1]),
            ex("q4", "de", Some("mkqa"), &[2]),
        ];
        let (pool, v) = question_versions(&examples, "q1").unwrap();
        assert_eq!((pool, v.iter().map(|e| e.lang.as_str()).collect::<Vec<_>>()), ("mkqa", vec!["en", "ru"]));
        assert!(question_versions(&examples, "q2").is_err(), "no pool: nothing to rank");
        assert!(question_versions(&examples, "nope").is_err());
        assert!(question_versions(&examples, "q4").unwrap_err().contains("other answers"));
        assert_eq!(matrix_questions(&examples), [("q1", "mkqa", 2), ("q4", "mkqa", 2)]);
        assert_eq!(default_matrix_question(&examples), Some("q1"));
        let mut with_sentences = examples.clone();
        with_sentences.push(ex("q5", "en", Some("xquad-r"), &[0]));
        with_sentences.push(ex("q5", "th", Some("xquad-r"), &[0]));
        assert_eq!(default_matrix_question(&with_sentences), Some("q5"));
    }

    #[test]
    fn a_checkpoint_is_two_named_files_under_the_limit() {
        let f = |n: &str, b: u64| (n.to_string(), b);
        assert_eq!(pick_checkpoint_files(&[f("layers.safetensors", 7_101_344), f("manifest.json", 2_000)]), Ok((1, 0)));
        let e = pick_checkpoint_files(&[f("manifest.json", 2_000)]).unwrap_err();
        assert!(e.contains("layers.safetensors") && e.contains("got: manifest.json"), "{e}");
        assert!(pick_checkpoint_files(&[]).unwrap_err().contains("got: nothing"));
        let e = pick_checkpoint_files(&[f("manifest.json", 1), f("layers.safetensors", MAX_CHECKPOINT_BYTES)]).unwrap_err();
        assert!(e.contains("at most 64 MB"), "{e}");
        assert!(pick_checkpoint_files(&[f("manifest.json", 0), f("layers.safetensors", MAX_CHECKPOINT_BYTES)]).is_ok(), "the limit itself is allowed");
    }

    #[test]
    fn int8_round_trip_is_within_half_a_step() {
        let data: Vec<f32> = (0..8 * 16).map(|i| ((i * 37 % 23) as f32 - 11.0) / 13.0).collect();
        let bytes = encode_int8(&data, 16);
        assert_eq!(bytes.len(), 12 + 8 * 4 + 8 * 16);
        let (back, dim) = decode_int8(&bytes, "t").unwrap();
        assert_eq!(dim, 16);
        for r in 0..8 {
            let max = data[r * 16..(r + 1) * 16].iter().fold(0f32, |m, v| m.max(v.abs()));
            for c in 0..16 {
                assert!((back[r * 16 + c] - data[r * 16 + c]).abs() <= max / 127.0 * 0.5 + 1e-7);
            }
        }
        assert!(decode_int8(&bytes[..bytes.len() - 1], "t").is_err());
        assert!(decode_int8(b"nope", "t").is_err());
    }
}

/// The page's engine pieces, shared by the Web Worker and the native parity check
/// (`hybrid-ir search --assets`), so both rank with exactly the same code and bytes.
pub mod engine {
    use std::collections::HashMap;

    use burn::tensor::Device;

    use super::{AssetManifest, PoolTexts, WordShards};
    use crate::encoder::{Encoder, EncoderConfig};
    use crate::metrics::LanguageMatrix;
    use crate::model::{apply_checked, parse_manifest, Checkpoint, DeltaManifest, Vocab, WordTable};
    use crate::rankings::{rank_row, QueryRanking};
    use crate::tokenize::TextTokenizer;

    /// The trunk as the stand-in for the full base (deltas name the full one).
    pub fn base_checkpoint(manifest: &AssetManifest, model: &[u8]) -> Result<Checkpoint, String> {
        let mut base = Checkpoint::from_e5s1_bytes(model, &manifest.model.path).map_err(|e| e.to_string())?;
        base.sha256 = manifest.base_sha256.clone();
        Ok(base)
    }

    /// The trunk's word table (special tokens only), ready to take shards.
    pub fn word_table(shards: &WordShards, trunk: &Checkpoint) -> Result<WordTable, String> {
        let table = trunk.weights.word_table(&trunk.config).ok_or("the model has no word table")?;
        table.with_vocab(Vocab::new(shards.rows, [])).map_err(|e| e.to_string())
    }

    /// Shards holding tokens of `ids` that `words` lacks, ascending.
    pub fn missing_shards(words: &WordTable, shards: &WordShards, ids: &[u32]) -> Vec<usize> {
        let mut missing: Vec<usize> = ids.iter().filter(|&&id| !words.knows(id)).map(|&id| shards.shard_of(id)).collect();
        missing.sort_unstable();
        missing.dedup();
        missing
    }

    /// Adds fetched shards (index, bytes) to `words`, rebuilding the table once for all of them.
    pub fn add_shards(words: &mut WordTable, shards: &WordShards, fetched: &[(usize, Vec<u8>)]) -> Result<(), String> {
        let runs: Vec<(u32, &[u8])> = fetched.iter().map(|(i, b)| (shards.first_row(*i), b.as_slice())).collect();
        let names = || fetched.iter().map(|(i, _)| i.to_string()).collect::<Vec<_>>().join(", ");
        words.insert_row_runs(&runs).map_err(|e| format!("word shards {}: {e}", names()))
    }

    /// The encoder of one model of the bundle; `delta` = (layers, manifest) bytes for a
    /// fine-tuned one. Its word table is replaced by the caller's shared one before each use.
    pub fn encoder(
        manifest: &AssetManifest,
        base: &Checkpoint,
        tokenizer: TextTokenizer,
        model: &str,
        delta: Option<(&[u8], &[u8])>,
        device: Device,
        config: EncoderConfig,
    ) -> Result<Encoder, String> {
        let entry = manifest.models.iter().find(|m| m.name == model).ok_or_else(|| format!("model {model} is not in the manifest"))?;
        let checkpoint = match (delta, &entry.delta, &entry.delta_manifest) {
            (Some((layers, m)), Some(dl), Some(dm)) => checked_delta(base, m, &dm.path, layers, &dl.path)?.0,
            (None, None, _) => base.clone(),
            _ => return Err(format!("model {model}: its delta files are missing")),
        };
        let mut encoder = Encoder::new(&checkpoint, tokenizer, device, config).map_err(|e| e.to_string())?;
        encoder.words = word_table(&manifest.words, base)?;
        Ok(encoder)
    }

    /// The base with a delta checkpoint applied, after checking that its manifest is one, names
    /// this base and matches the layer bytes.
    fn checked_delta(base: &Checkpoint, manifest: &[u8], manifest_file: &str, layers: &[u8], layers_file: &str) -> Result<(Checkpoint, DeltaManifest), String> {
        let m = parse_manifest(&String::from_utf8_lossy(manifest), manifest_file).map_err(|e| e.to_string())?;
        let (checkpoint, _) = apply_checked(base, &m, layers, layers_file).map_err(|e| e.to_string())?;
        Ok((checkpoint, m))
    }

    /// The encoder of a checkpoint the user brought (the two files `hybrid-ir train` writes),
    /// checked against the bundle's base; with its manifest (alpha, seed, sha256).
    pub fn user_encoder(
        manifest: &AssetManifest,
        base: &Checkpoint,
        tokenizer: TextTokenizer,
        delta_manifest: &[u8],
        layers: &[u8],
        device: Device,
        config: EncoderConfig,
    ) -> Result<(Encoder, DeltaManifest), String> {
        let (checkpoint, m) = checked_delta(base, delta_manifest, crate::model::DELTA_MANIFEST, layers, crate::model::DELTA_WEIGHTS)?;
        let mut encoder = Encoder::new(&checkpoint, tokenizer, device, config).map_err(|e| e.to_string())?;
        encoder.words = word_table(&manifest.words, base)?;
        Ok((encoder, m))
    }

    /// Candidate languages as small indices, for [`rank_row`], and the languages' names
    /// (sorted; index `i` names language `i`).
    pub fn pool_langs(texts: &PoolTexts) -> (Vec<u16>, Vec<String>) {
        let mut names: Vec<String> = texts.langs.clone();
        names.sort();
        names.dedup();
        let index: HashMap<&String, u16> = names.iter().enumerate().map(|(i, l)| (l, i as u16)).collect();
        (texts.langs.iter().map(|l| index[l]).collect(), names)
    }

    /// Cosine scores of one query against a pool, then the top `k` and the ranks of `relevant`.
    /// Every index and size comes from files or messages, so each is checked: an error, never
    /// a trap.
    pub fn rank(query: &[f32], vectors: &[f32], langs: &[u16], n_langs: usize, relevant: &[u32], k: usize) -> Result<QueryRanking, String> {
        let scores = scores(query, vectors, langs, n_langs, relevant)?;
        Ok(rank_row(&scores, relevant, langs, n_langs, k.min(scores.len()), 0))
    }

    /// The query's score against every pool row, after checking that the sizes and indices
    /// agree.
    fn scores(query: &[f32], vectors: &[f32], langs: &[u16], n_langs: usize, relevant: &[u32]) -> Result<Vec<f32>, String> {
        let dim = query.len();
        if dim == 0 || !vectors.len().is_multiple_of(dim) {
            return Err(format!("the pool index holds {} values, not rows of the query's {dim}", vectors.len()));
        }
        let rows = vectors.len() / dim;
        if langs.len() != rows {
            return Err(format!("the pool index has {rows} rows but the pool {} languages", langs.len()));
        }
        if let Some(&l) = langs.iter().find(|&&l| l as usize >= n_langs) {
            return Err(format!("pool language index {l} is not below {n_langs}"));
        }
        if let Some(&r) = relevant.iter().find(|&&r| r as usize >= rows) {
            return Err(format!("relevant candidate {r} is outside the pool of {rows}"));
        }
        Ok(vectors.chunks_exact(dim).map(|row| row.iter().zip(query).map(|(a, b)| a * b).sum()).collect())
    }

    /// One question asked in several languages, against a pool: `queries` holds one embedding
    /// per row of `query_langs` (row-major); `langs` are the pool rows' language indices, named
    /// by `lang_names` ([`pool_langs`]); `relevant` the question's answers in the pool.
    pub struct MatrixQuestion<'a> {
        pub queries: &'a [f32],
        pub query_langs: &'a [String],
        pub vectors: &'a [f32],
        pub langs: &'a [u16],
        pub lang_names: &'a [String],
        pub relevant: &'a [u32],
    }

    impl MatrixQuestion<'_> {
        /// Its [`LanguageMatrix`]. A cell is 1 + the number of candidates scoring strictly
        /// higher: the same answer written alike in several languages ("Luke Evans") scores the
        /// same for each, and so shares one rank instead of being told apart by candidate id.
        pub fn matrix(&self) -> Result<LanguageMatrix, String> {
            self.ranked_by(|scores, s| 1 + scores.iter().filter(|&&x| x > s).count())
        }

        /// The range each cell of [`Self::matrix`] can take when another engine's scores differ
        /// from these by up to `tolerance / 2` each (float summation order: the page's scores
        /// differ from native ones by at most 1.5e-7, bench-browser's `max_score_diff_to_native`).
        /// (low, high): the ranks with every near-tie within `tolerance` resolved for, then
        /// against, the answer; exact ties (the same text in two languages, the same vector)
        /// stay ties. Deep in a pool of 25,000 a near-tie is common, so an exact page-versus-
        /// native comparison would fail on float noise.
        pub fn band(&self, tolerance: f32) -> Result<(LanguageMatrix, LanguageMatrix), String> {
            let low = self.ranked_by(|scores, s| 1 + scores.iter().filter(|&&x| x > s + tolerance).count())?;
            let high = self.ranked_by(|scores, s| 1 + scores.iter().filter(|&&x| x != s && x > s - tolerance).count())?;
            Ok((low, high))
        }

        /// Each cell is `rank(the row's scores, the answer's score)`.
        fn ranked_by(&self, rank: impl Fn(&[f32], f32) -> usize) -> Result<LanguageMatrix, String> {
            let (queries, relevant, langs, lang_names) = (self.queries, self.relevant, self.langs, self.lang_names);
            let n = self.query_langs.len();
            if n == 0 || queries.is_empty() || queries.len() % n != 0 {
                return Err(format!("{} query values are not one embedding for each of {n} languages", queries.len()));
            }
            let dim = queries.len() / n;
            let mut rows = Vec::with_capacity(n);
            for (q, lang) in queries.chunks_exact(dim).zip(self.query_langs) {
                let scores = scores(q, self.vectors, langs, lang_names.len(), relevant)?;
                let cells: Vec<(&str, usize)> = relevant
                    .iter()
                    .map(|&r| (lang_names[langs[r as usize] as usize].as_str(), rank(&scores, scores[r as usize])))
                    .collect();
                rows.push((lang.clone(), cells));
            }
            Ok(LanguageMatrix::new(rows))
        }
    }
}
