//! `hybrid-ir web-assets`: everything the web page downloads, with a sha256 manifest.
//!
//! The base model is cut to the vocabulary our datasets use (the browser budget is 60 MB; the
//! full 4-bit word table alone is 54 MB) and candidate pools are embedded natively, once per
//! model, then stored as int8. Both costs are measured here: `<unk>` rate on held-out text
//! (Mintaka) and MKQA-R mAP of the browser path vs native f32.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::eval::{cache_dir, embed_cached, git_commit};
use super::{load_checkpoint, progress_bar, CliError, ModelArgs};
use crate::assets::{
    decode_int8, encode_int8, AssetManifest, Compression, Example, FileEntry, ModelEntry, PoolEntry, PoolTexts, ASSETS_SCHEMA,
    ASSETS_VERSION,
};
use crate::encoder::{BackendKind, Encoder, EncoderConfig};
use crate::model::{load_delta_dir, prune_checkpoint, sha256_hex, write_e5s1, Checkpoint, Vocab, DELTA_MANIFEST, DELTA_WEIGHTS};
use crate::report::{self, EvalOptions};
use crate::tasks::{self, Task, TaskKind};
use crate::tokenize::{Role, TextTokenizer};

#[derive(clap::Args, Debug)]
pub struct WebAssetsArgs {
    /// Output folder (served by Trunk as /assets).
    #[arg(long, default_value = "www/assets")]
    out: PathBuf,
    /// Data folder (default: $HYBRID_IR_DATA or ../shared/data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Sweep folder whose manifest.json lists the fine-tuned checkpoints (missing = base only).
    #[arg(long, default_value = "models/sweep")]
    checkpoints: PathBuf,
    /// Only these checkpoints (names like alpha-0.5-seed-1); default all of the sweep.
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Model the page opens with (default: alpha-0.5-seed-1 when present, else base).
    #[arg(long)]
    default_model: Option<String>,
    /// Example questions per language.
    #[arg(long, default_value_t = 12)]
    examples: usize,
    /// Skip the mAP comparison of browser weights vs native (saves a few minutes).
    #[arg(long)]
    skip_quality_check: bool,
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
}

fn write_file(out: &Path, rel: &str, bytes: &[u8]) -> Result<FileEntry, CliError> {
    let path = out.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| CliError::io(parent.display(), e))?;
    }
    crate::train::write_atomic(&path, bytes).map_err(|e| CliError::Usage(e.to_string()))?;
    Ok(FileEntry { path: rel.to_string(), sha256: sha256_hex(bytes), bytes: bytes.len() as u64 })
}

fn json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, CliError> {
    serde_json::to_vec(v).map_err(|e| CliError::Usage(e.to_string()))
}

/// Every token id the datasets' texts produce (all tasks, both roles, MKQA's official sample in
/// 26 languages, XQuAD contexts), i.e. the vocabulary of the languages the page serves.
fn used_ids(tok: &TextTokenizer, data: &Path) -> Result<BTreeSet<u32>, CliError> {
    let mut texts: Vec<(String, Role)> = Vec::new();
    for kind in [TaskKind::XquadR, TaskKind::MlqaR, TaskKind::MkqaConsistency] {
        let task = tasks::load_task(kind, data).map_err(|e| CliError::Usage(e.to_string()))?;
        texts.extend(task.queries.into_iter().map(|q| (q.text, Role::Query)));
        texts.extend(task.pool.into_iter().map(|c| (c.text, Role::Passage)));
    }
    let official = crate::sources::read_official(&data.join("mkqa/official-sample/test_mkqa.jsonl.gz"))
        .map_err(|e| CliError::Usage(e.to_string()))?;
    for q in official {
        texts.extend(q.queries.into_values().map(|t| (t, Role::Query)));
        texts.extend(q.answers.into_values().flatten().map(|t| (t, Role::Passage)));
    }
    for f in crate::sources::read_squad_r_dir(&data.join("xquad"), false).map_err(|e| CliError::Usage(e.to_string()))? {
        for p in f.articles.iter().flat_map(|a| &a.paragraphs) {
            texts.push((p.context.clone(), Role::Passage));
        }
    }
    let mut bar = progress_bar(texts.len(), "vocabulary");
    let mut ids = BTreeSet::new();
    for (t, role) in &texts {
        let (v, _) = tok.encode(t, *role, 100_000).map_err(crate::encoder::EncodeError::from)?;
        ids.extend(v);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(ids)
}

/// Share of held-out tokens the pruned vocabulary lacks, per Mintaka language.
fn unk_rates(tok: &TextTokenizer, vocab: &Vocab, data: &Path) -> Result<BTreeMap<String, f64>, CliError> {
    let path = data.join("mintaka/mintaka_dev.json");
    let text = std::fs::read_to_string(&path).map_err(|e| CliError::io(path.display(), e))?;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for r in &rows {
        let mut versions: Vec<(String, String)> = Vec::new();
        if let Some(q) = r.get("question").and_then(|q| q.as_str()) {
            versions.push(("en".into(), q.to_string()));
        }
        if let Some(tr) = r.get("translations").and_then(|t| t.as_object()) {
            versions.extend(tr.iter().filter_map(|(l, q)| Some((l.clone(), q.as_str()?.to_string()))));
        }
        for (lang, q) in versions {
            let (ids, _) = tok.encode(&q, Role::Query, 100_000).map_err(crate::encoder::EncodeError::from)?;
            let e = counts.entry(lang).or_default();
            e.0 += ids.iter().filter(|&&i| !vocab.contains(i)).count();
            e.1 += ids.len();
        }
    }
    Ok(counts.into_iter().map(|(l, (unk, n))| (l, unk as f64 / n.max(1) as f64)).collect())
}

fn examples(task: &Task, pool: &str, per_lang: usize) -> Vec<Example> {
    // The same questions in every language, preferring those answered in the most languages.
    let mut by_qid: BTreeMap<&str, usize> = BTreeMap::new();
    for q in &task.queries {
        if !q.relevant.is_empty() {
            *by_qid.entry(q.qid.as_str()).or_default() += 1;
        }
    }
    let mut qids: Vec<(&str, usize)> = by_qid.into_iter().collect();
    qids.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let chosen: BTreeSet<&str> = qids.into_iter().take(per_lang).map(|x| x.0).collect();
    task.queries
        .iter()
        .filter(|q| chosen.contains(q.qid.as_str()))
        .map(|q| Example { qid: q.qid.clone(), lang: q.lang.clone(), text: q.text.clone(), pool: Some(pool.into()), relevant: q.relevant.clone() })
        .collect()
}

fn encoder_for(checkpoint: &Checkpoint, args: &ModelArgs) -> Result<Encoder, CliError> {
    let tok_path = super::paths::base_model_dir().join("tokenizer.json");
    let tokenizer = TextTokenizer::from_file(&tok_path).map_err(crate::encoder::EncodeError::from)?;
    let config = EncoderConfig::new()
        .with_batch_size(args.batch_size)
        .with_max_len_query(args.max_len_query)
        .with_max_len_passage(args.max_len_passage);
    Ok(Encoder::new(checkpoint, tokenizer, args.backend.device()?, config)?)
}

pub fn web_assets(args: WebAssetsArgs) -> Result<(), CliError> {
    let data = crate::sources::data_root(args.data.as_deref());
    let out = &args.out;
    std::fs::create_dir_all(out).map_err(|e| CliError::io(out.display(), e))?;
    let base = load_checkpoint("base")?;
    let tok_path = super::paths::base_model_dir().join("tokenizer.json");
    let tok_bytes = std::fs::read(&tok_path).map_err(|e| CliError::io(tok_path.display(), e))?;
    let tokenizer = TextTokenizer::from_bytes(&tok_bytes, &tok_path.display().to_string()).map_err(crate::encoder::EncodeError::from)?;

    // 1. Vocabulary, pruned model, tokenizer.
    let vocab = Vocab::new(base.config.vocab_size, used_ids(&tokenizer, &data)?);
    let unk_rate = unk_rates(&tokenizer, &vocab, &data)?;
    eprintln!(
        "vocabulary: {} of {} tokens kept; <unk> rate on held-out Mintaka questions: {}",
        vocab.len(),
        base.config.vocab_size,
        unk_rate.iter().map(|(l, r)| format!("{l} {:.2}%", 100.0 * r)).collect::<Vec<_>>().join(", ")
    );
    let pruned = prune_checkpoint(&base, &vocab).map_err(crate::encoder::EncodeError::from)?;
    let model_entry = write_file(out, "model/e5-small-pruned-q4.e5s1", &write_e5s1(&pruned.config, &pruned.weights).map_err(crate::encoder::EncodeError::from)?)?;
    let vocab_entry = write_file(out, "model/vocab.bin", &vocab.to_bytes())?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&tok_bytes).map_err(|e| CliError::io("tokenizer gzip", e))?;
    let tok_gz = gz.finish().map_err(|e| CliError::io("tokenizer gzip", e))?;
    let tokenizer_entry = write_file(out, "model/tokenizer.json.gz", &tok_gz)?;

    // 2. Pools and examples.
    let mkqa = tasks::load_task(TaskKind::Mkqa, &data).map_err(|e| CliError::Usage(e.to_string()))?;
    let xquad = tasks::load_task(TaskKind::XquadRHeldout, &data).map_err(|e| CliError::Usage(e.to_string()))?;
    let pools: Vec<(&str, &str, &Task)> =
        vec![("mkqa", "MKQA-R answers (12 languages)", &mkqa), ("xquad-r", "XQuAD-R held-out sentences (11 languages)", &xquad)];
    let mut pool_entries = Vec::new();
    for (name, title, task) in &pools {
        let texts = PoolTexts {
            ids: task.pool.iter().map(|c| c.id.clone()).collect(),
            langs: task.pool.iter().map(|c| c.lang.clone()).collect(),
            texts: task.pool.iter().map(|c| c.text.clone()).collect(),
        };
        let entry = write_file(out, &format!("pools/{name}.json"), &json(&texts)?)?;
        pool_entries.push(PoolEntry { name: name.to_string(), title: title.to_string(), texts: entry, count: task.pool.len(), langs: task.langs.clone() });
    }
    let mut ex = examples(&mkqa, "mkqa", args.examples);
    ex.extend(examples(&xquad, "xquad-r", args.examples));
    let official = crate::sources::read_official(&data.join("mkqa/official-sample/test_mkqa.jsonl.gz"))
        .map_err(|e| CliError::Usage(e.to_string()))?;
    for q in &official {
        for (lang, text) in &q.queries {
            ex.push(Example { qid: format!("official-{}", q.id), lang: lang.clone(), text: text.clone(), pool: None, relevant: Vec::new() });
        }
    }
    let examples_entry = write_file(out, "examples.json", &json(&ex)?)?;

    // 3. Models: base plus the sweep's checkpoints, each with its pool embeddings.
    let mut cells: Vec<(String, Option<f64>, Option<u64>, Option<PathBuf>)> = vec![("base".into(), None, None, None)];
    let sweep_manifest = args.checkpoints.join("manifest.json");
    if let Ok(text) = std::fs::read_to_string(&sweep_manifest) {
        let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| CliError::Usage(format!("{}: {e}", sweep_manifest.display())))?;
        for c in doc["checkpoints"].as_array().cloned().unwrap_or_default() {
            let name = c["name"].as_str().unwrap_or_default().to_string();
            if args.only.as_ref().is_some_and(|o| !o.contains(&name)) {
                continue;
            }
            cells.push((name.clone(), c["alpha"].as_f64(), c["seed"].as_u64(), Some(args.checkpoints.join(&name))));
        }
    } else {
        eprintln!("{} not found: the page gets the base model only", sweep_manifest.display());
    }
    let cache = cache_dir(args.cache_dir.as_ref());
    let mut models = Vec::new();
    let mut native_vectors: BTreeMap<String, (Encoder, Vec<f32>)> = BTreeMap::new();
    for (name, alpha, seed, dir) in &cells {
        let (checkpoint, delta, delta_manifest) = match dir {
            None => (base.clone(), None, None),
            Some(dir) => {
                let (ckpt, _) = load_delta_dir(&base, dir).map_err(crate::encoder::EncodeError::from)?;
                let read = |f: &str| std::fs::read(dir.join(f)).map_err(|e| CliError::io(dir.join(f).display(), e));
                let d = write_file(out, &format!("models/{name}/{DELTA_WEIGHTS}"), &read(DELTA_WEIGHTS)?)?;
                let m = write_file(out, &format!("models/{name}/{DELTA_MANIFEST}"), &read(DELTA_MANIFEST)?)?;
                (ckpt, Some(d), Some(m))
            }
        };
        let encoder = encoder_for(&checkpoint, &args.model)?;
        let mut pool_files = BTreeMap::new();
        let mut mkqa_pool = None;
        for (pool, _, task) in &pools {
            let texts: Vec<&str> = task.pool.iter().map(|c| c.text.as_str()).collect();
            let (vectors, _, _) = embed_cached(&encoder, &cache, &texts, Role::Passage, &format!("{name} {pool} pool"))?;
            pool_files.insert(pool.to_string(), write_file(out, &format!("models/{name}/{pool}.i8"), &encode_int8(&vectors, encoder.dim()))?);
            if *pool == "mkqa" {
                mkqa_pool = Some(vectors);
            }
        }
        if let Some(v) = mkqa_pool {
            native_vectors.insert(name.clone(), (encoder, v));
        }
        models.push(ModelEntry { name: name.clone(), alpha: *alpha, seed: *seed, sha256: checkpoint.sha256.clone(), delta, delta_manifest, pools: pool_files });
    }
    let default_model = args
        .default_model
        .clone()
        .unwrap_or_else(|| if models.iter().any(|m| m.name == "alpha-0.5-seed-1") { "alpha-0.5-seed-1".into() } else { "base".into() });
    if !models.iter().any(|m| m.name == default_model) {
        return Err(CliError::Usage(format!("--default-model {default_model} is not among the models")));
    }

    // 4. What compression costs: MKQA-R multilingual mAP, native vs browser path.
    let mut compression = Compression { vocab_full: base.config.vocab_size, vocab_kept: vocab.len(), unk_rate, ..Default::default() };
    if !args.skip_quality_check {
        let device = BackendKind::Flex.device()?;
        let opts = EvalOptions { bootstrap_samples: 0, ..Default::default() };
        let q_texts: Vec<&str> = mkqa.queries.iter().map(|q| q.text.as_str()).collect();
        for name in ["base".to_string(), default_model.clone()].into_iter().collect::<BTreeSet<_>>() {
            let Some((native_encoder, pool_f32)) = native_vectors.get(&name) else { continue };
            let (q_native, _, _) = embed_cached(native_encoder, &cache, &q_texts, Role::Query, &format!("{name} queries"))?;
            let (native, _) = report::evaluate_task(&mkqa, &q_native, pool_f32, native_encoder.dim(), &device, &opts, |_| {})
                .map_err(CliError::Usage)?;
            // Browser path: pruned vocabulary for the queries, int8 pool.
            let entry = models.iter().find(|m| m.name == name).map(|m| m.pools["mkqa"].clone()).ok_or_else(|| CliError::Usage("pool missing".into()))?;
            let (pool_i8, dim) = decode_int8(&std::fs::read(out.join(&entry.path)).map_err(|e| CliError::io(&entry.path, e))?, &entry.path)
                .map_err(CliError::Usage)?;
            let mut browser_ckpt = if name == "base" {
                base.clone()
            } else {
                let dir = args.checkpoints.join(&name);
                load_delta_dir(&base, &dir).map_err(crate::encoder::EncodeError::from)?.0
            };
            browser_ckpt = prune_checkpoint(&browser_ckpt, &vocab).map_err(crate::encoder::EncodeError::from)?;
            let mut browser = encoder_for(&browser_ckpt, &args.model)?;
            browser.words = browser.words.clone().with_vocab(vocab.clone()).map_err(crate::encoder::EncodeError::from)?;
            let mut bar = progress_bar(q_texts.len(), &format!("{name} queries, pruned vocabulary"));
            let q_browser = browser.encode(&q_texts, Role::Query, |n| bar.inc(n as u64))?;
            bar.finish_and_clear();
            let (web, _) = report::evaluate_task(&mkqa, &q_browser.data, &pool_i8, dim, &device, &opts, |_| {}).map_err(CliError::Usage)?;
            eprintln!(
                "{name}: MKQA-R multilingual mAP native {:.5}, browser path {:.5} (delta {:+.5})",
                native.macro_avg.multi.map,
                web.macro_avg.multi.map,
                web.macro_avg.multi.map - native.macro_avg.multi.map
            );
            compression.map_native.insert(name.clone(), native.macro_avg.multi.map);
            compression.map_browser.insert(name, web.macro_avg.multi.map);
        }
    }

    // 5. Results of the sweep for the plots.
    let results = match std::fs::read("results/sweep/sweep.json") {
        Ok(bytes) => Some(write_file(out, "results/sweep.json", &bytes)?),
        Err(_) => None,
    };
    let manifest = AssetManifest {
        schema: ASSETS_SCHEMA.into(),
        version: ASSETS_VERSION,
        git_commit: git_commit(),
        created_unix: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        base_sha256: base.sha256.clone(),
        model: model_entry,
        vocab: vocab_entry,
        tokenizer: tokenizer_entry,
        models,
        default_model,
        pools: pool_entries,
        examples: examples_entry,
        results,
        compression,
        data: mkqa.checksums.iter().chain(&xquad.checksums).cloned().collect(),
    };
    write_file(out, "manifest.json", &serde_json::to_vec_pretty(&manifest).map_err(|e| CliError::Usage(e.to_string()))?)?;
    let default_bytes: u64 = {
        let m = &manifest;
        let d = m.models.iter().find(|x| x.name == m.default_model);
        m.model.bytes
            + m.vocab.bytes
            + m.tokenizer.bytes
            + m.examples.bytes
            + m.pools.iter().map(|p| p.texts.bytes).sum::<u64>()
            + d.map(|d| d.delta.as_ref().map_or(0, |f| f.bytes) + d.pools.values().map(|f| f.bytes).sum::<u64>()).unwrap_or(0)
    };
    eprintln!("wrote {} (default page data: {:.1} MB before the wasm)", out.join("manifest.json").display(), default_bytes as f64 / 1e6);
    Ok(())
}
