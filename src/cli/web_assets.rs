//! `hybrid-ir web-assets`: everything the web page downloads, with a sha256 manifest.
//!
//! The browser budget is 60 MB and the full 4-bit word table alone is 54 MB, so the model ships
//! as a trunk (everything but the word table) plus the table in shards that the page fetches as
//! queries need them. Candidate pools are embedded natively, once per model, then stored as int8;
//! what that costs is measured here (MKQA-R mAP of the page's path vs native f32).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::embed::{cache_dir, embed_cached, embed_shared_trunk};
use super::git_commit;
use super::bundle::PageEngine;
use super::reproduce::{write_entries, ReferenceInputs};
use super::{load_checkpoint, progress_bar, CliError, ModelArgs};
use crate::assets::{
    encode_int8, engine, AssetManifest, Compression, Example, FileEntry, ModelEntry, PoolEntry, PoolTexts, WordShards,
    ASSETS_SCHEMA, ASSETS_VERSION,
};
use crate::encoder::{BackendKind, Encoder, EncoderConfig};
use crate::model::{load_delta_dir, prune_checkpoint, sha256_hex, write_e5s1, Checkpoint, StoredTensor, Vocab, DELTA_MANIFEST, DELTA_WEIGHTS, UNK_ID};
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
    /// The sweep's results folder (`sweep.json` for the plots, per-model folders for Reproduce).
    #[arg(long, default_value = "results/sweep")]
    results: PathBuf,
    /// The study of those results (`study.json`, from `hybrid-ir study --out DIR`).
    #[arg(long, default_value = "results/study")]
    study: PathBuf,
    /// Your own study in one folder: DIR/models (the sweep's --models), DIR/results (its
    /// --results) and DIR/study (the study's --out); sets --checkpoints, --results and --study.
    #[arg(long, conflicts_with_all = ["checkpoints", "results", "study"])]
    sweep: Option<PathBuf>,
    /// Only these checkpoints (names like alpha-0.5-seed-1); default all of the sweep.
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Model the page opens with (default: alpha-0.5-seed-1 when present, else base).
    #[arg(long)]
    default_model: Option<String>,
    /// Example questions per language.
    #[arg(long, default_value_t = 12)]
    examples: usize,
    /// Cut each pool to about this many candidates (whole questions with their answers, plus
    /// an even spread of distractors): a quick bundle for tests. Default: the full pools.
    #[arg(long)]
    pool_limit: Option<usize>,
    /// Skip the mAP comparison of browser weights vs native (saves a few minutes).
    #[arg(long)]
    skip_quality_check: bool,
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
}

pub(super) fn write_file(out: &Path, rel: &str, bytes: &[u8]) -> Result<FileEntry, CliError> {
    let path = out.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| CliError::io(parent.display(), e))?;
    }
    super::write_atomic(&path, bytes)?;
    Ok(FileEntry { path: rel.to_string(), sha256: sha256_hex(bytes), bytes: bytes.len() as u64 })
}

pub(super) fn json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, CliError> {
    serde_json::to_vec(v).map_err(|e| CliError::json("bundle file", e))
}

/// Share of held-out tokens (Mintaka questions) the tokenizer maps to `<unk>`, per language: the
/// page has every word-table row, so this is all the vocabulary loses.
fn unk_rates(tok: &TextTokenizer, data: &Path) -> Result<BTreeMap<String, f64>, CliError> {
    let path = data.join("mintaka/mintaka_dev.json");
    let text = std::fs::read_to_string(&path).map_err(|e| CliError::io(path.display(), e))?;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).map_err(|e| CliError::json(path.display(), e))?;
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
            e.0 += ids.iter().filter(|&&i| i == UNK_ID).count();
            e.1 += ids.len();
        }
    }
    Ok(counts.into_iter().map(|(l, (unk, n))| (l, unk as f64 / n.max(1) as f64)).collect())
}

/// Rows per word-table shard: 256 x 216 bytes = 55 KB. Smaller shards waste less on rows a
/// query does not need (an MKQA question touches about 10 shards), larger ones mean fewer files.
const ROWS_PER_SHARD: usize = 256;

/// Writes the base's 4-bit word table as shards under `model/words/`.
fn write_word_shards(out: &Path, base: &Checkpoint) -> Result<WordShards, CliError> {
    let Some(StoredTensor::Q4(table)) = base.weights.get("emb.word") else {
        return Err(CliError::Bundle("the base model's word table is not 4-bit; the page expects Q4_0 rows".into()));
    };
    let rows = base.config.vocab_size;
    let row_bytes = table.len() / rows.max(1);
    let mut shards = WordShards { dir: "model/words".into(), rows, rows_per_shard: ROWS_PER_SHARD, row_bytes, sha256: Vec::new() };
    let mut bar = progress_bar(rows.div_ceil(ROWS_PER_SHARD), "word-table shards");
    for (i, chunk) in table.chunks(ROWS_PER_SHARD * row_bytes).enumerate() {
        let entry = write_file(out, &format!("{}/{i:04}.q4", shards.dir), chunk)?;
        shards.sha256.push(entry.sha256);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(shards)
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

pub(super) fn encoder_for(checkpoint: &Checkpoint, args: &ModelArgs) -> Result<Encoder, CliError> {
    let tok_path = super::paths::base_model_dir().join("tokenizer.json");
    let tokenizer = TextTokenizer::from_file(&tok_path).map_err(crate::encoder::EncodeError::from)?;
    let config = EncoderConfig::new()
        .with_batch_size(args.batch_size)
        .with_max_len_query(args.max_len_query)
        .with_max_len_passage(args.max_len_passage);
    Ok(Encoder::new(checkpoint, tokenizer, args.backend.device()?, config)?)
}

/// The model files (step 1 of the bundle).
struct ModelFiles {
    trunk: Checkpoint,
    model: FileEntry,
    words: WordShards,
    tokenizer: FileEntry,
    unk_rate: BTreeMap<String, f64>,
}

/// The trunk (everything but the word table), the word-table shards and the gzipped tokenizer.
fn write_model_files(out: &Path, base: &Checkpoint, tokenizer: &TextTokenizer, tok_bytes: &[u8], data: &Path) -> Result<ModelFiles, CliError> {
    let unk_rate = unk_rates(tokenizer, data)?;
    eprintln!(
        "<unk> rate on held-out Mintaka questions: {}",
        unk_rate.iter().map(|(l, r)| format!("{l} {:.2}%", 100.0 * r)).collect::<Vec<_>>().join(", ")
    );
    let trunk = prune_checkpoint(base, &Vocab::new(base.config.vocab_size, []))?;
    let model = write_file(out, "model/e5-small-trunk-q4.e5s1", &write_e5s1(&trunk.config, &trunk.weights)?)?;
    let words = write_word_shards(out, base)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(tok_bytes).map_err(|e| CliError::io("tokenizer gzip", e))?;
    let tok_gz = gz.finish().map_err(|e| CliError::io("tokenizer gzip", e))?;
    let tokenizer = write_file(out, "model/tokenizer.json.gz", &tok_gz)?;
    Ok(ModelFiles { trunk, model, words, tokenizer, unk_rate })
}

/// The page's two candidate pools, cut by `--pool-limit` for quick bundles.
fn load_pools(args: &WebAssetsArgs, data: &Path) -> Result<(Task, Task), CliError> {
    let mut mkqa = tasks::load_task(TaskKind::Mkqa, data)?;
    let mut xquad = tasks::load_task(TaskKind::XquadRHeldout, data)?;
    if let Some(limit) = args.pool_limit {
        (mkqa, xquad) = (mkqa.sample(limit), xquad.sample(limit));
        eprintln!("pools cut to {} (MKQA-R) and {} (XQuAD-R) candidates (--pool-limit)", mkqa.pool.len(), xquad.pool.len());
    }
    Ok((mkqa, xquad))
}

/// Each pool's texts and the example questions (step 2).
fn write_pools_and_examples(out: &Path, args: &WebAssetsArgs, data: &Path, pools: &[(&str, &str, &Task)]) -> Result<(Vec<PoolEntry>, FileEntry), CliError> {
    let mut entries = Vec::new();
    for (name, title, task) in pools {
        let texts = PoolTexts {
            ids: task.pool.iter().map(|c| c.id.clone()).collect(),
            langs: task.pool.iter().map(|c| c.lang.clone()).collect(),
            texts: task.pool.iter().map(|c| c.text.clone()).collect(),
        };
        let entry = write_file(out, &format!("pools/{name}.json"), &json(&texts)?)?;
        entries.push(PoolEntry { name: name.to_string(), title: title.to_string(), texts: entry, count: task.pool.len(), langs: task.langs.clone() });
    }
    let mut ex = Vec::new();
    for (name, _, task) in pools {
        ex.extend(examples(task, name, args.examples));
    }
    let official = crate::sources::read_official(&data.join("mkqa/official-sample/test_mkqa.jsonl.gz"))?;
    for q in &official {
        for (lang, text) in &q.queries {
            ex.push(Example { qid: format!("official-{}", q.id), lang: lang.clone(), text: text.clone(), pool: None, relevant: Vec::new() });
        }
    }
    Ok((entries, write_file(out, "examples.json", &json(&ex)?)?))
}

/// The models the page offers: base plus the sweep's checkpoints (or `--only` of them), with
/// their delta files copied into the bundle (step 3).
struct Models {
    entries: Vec<ModelEntry>,
    checkpoints: Vec<Checkpoint>,
    /// The lowest layer any checkpoint changes: below it, all share the base's trunk.
    split: usize,
}

/// A model to bundle: name, alpha and seed (none for base), checkpoint folder (none for base).
type ModelSpec = (String, Option<f64>, Option<u64>, Option<PathBuf>);

fn write_models(out: &Path, args: &WebAssetsArgs, base: &Checkpoint) -> Result<Models, CliError> {
    let mut cells: Vec<ModelSpec> = vec![("base".into(), None, None, None)];
    let sweep_manifest = args.checkpoints.join("manifest.json");
    if let Ok(text) = std::fs::read_to_string(&sweep_manifest) {
        let doc = <crate::sweep::CheckpointsManifest as crate::sweep::Versioned>::parse(&text, &sweep_manifest.display().to_string())?;
        for c in doc.checkpoints {
            if args.only.as_ref().is_some_and(|o| !o.contains(&c.name)) {
                continue;
            }
            cells.push((c.name.clone(), Some(c.alpha), Some(c.seed), Some(args.checkpoints.join(&c.name))));
        }
    } else {
        eprintln!("{} not found: the page gets the base model only", sweep_manifest.display());
    }
    let mut models = Models { entries: Vec::new(), checkpoints: Vec::new(), split: base.config.num_layers };
    for (name, alpha, seed, dir) in &cells {
        let (checkpoint, delta, delta_manifest) = match dir {
            None => (base.clone(), None, None),
            Some(dir) => {
                let (ckpt, manifest) = load_delta_dir(base, dir)?;
                models.split = models.split.min(manifest.layers.iter().copied().min().unwrap_or(models.split));
                let read = |f: &str| std::fs::read(dir.join(f)).map_err(|e| CliError::io(dir.join(f).display(), e));
                let d = write_file(out, &format!("models/{name}/{DELTA_WEIGHTS}"), &read(DELTA_WEIGHTS)?)?;
                let m = write_file(out, &format!("models/{name}/{DELTA_MANIFEST}"), &read(DELTA_MANIFEST)?)?;
                (ckpt, Some(d), Some(m))
            }
        };
        models.entries.push(ModelEntry {
            name: name.clone(),
            alpha: *alpha,
            seed: *seed,
            sha256: checkpoint.sha256.clone(),
            delta,
            delta_manifest,
            pools: BTreeMap::new(),
        });
        models.checkpoints.push(checkpoint);
    }
    models.split = models.split.min(base.config.num_layers - 1);
    Ok(models)
}

/// Every model's int8 pool embeddings. All checkpoints are deltas on the top layers of the base:
/// each pool runs through the shared trunk once, then through each model's own top (as `sweep`
/// does). Returns the f32 pool vectors by (pool, model), for the quality check and references.
fn write_pool_embeddings(
    out: &Path,
    encoder: &Encoder,
    cache: &Path,
    models: &mut Models,
    pools: &[(&str, &str, &Task)],
) -> Result<BTreeMap<(String, String), Vec<f32>>, CliError> {
    let mut tops = Vec::new();
    for (entry, ckpt) in models.entries.iter().zip(&models.checkpoints) {
        let bert = ckpt.config.init_with(&ckpt.weights, &encoder.device)?;
        tops.push((entry.name.clone(), entry.sha256.clone(), bert.layers[models.split..].to_vec()));
    }
    let mut native = BTreeMap::new();
    for (pool, _, task) in pools {
        let texts: Vec<&str> = task.pool.iter().map(|c| c.text.as_str()).collect();
        let vectors = embed_shared_trunk(encoder, cache, &tops, models.split, &texts, Role::Passage, &format!("{pool} pool"))?;
        for (entry, (v, _)) in models.entries.iter_mut().zip(vectors) {
            let file = write_file(out, &format!("models/{}/{pool}.i8", entry.name), &encode_int8(&v, encoder.dim()))?;
            entry.pools.insert(pool.to_string(), file);
            native.insert((pool.to_string(), entry.name.clone()), v);
        }
    }
    Ok(native)
}

/// Mean bytes of word-table shards a first MKQA query needs (step 4: what a visit costs).
fn first_query_shard_bytes(files: &ModelFiles, tokenizer: &TextTokenizer, queries: &[&str], max_len: usize) -> Result<f64, CliError> {
    let table = engine::word_table(&files.words, &files.trunk).map_err(CliError::Usage)?;
    let mut total = 0u64;
    for q in queries {
        let (ids, _) = tokenizer.encode(q, Role::Query, max_len).map_err(crate::encoder::EncodeError::from)?;
        total += engine::missing_shards(&table, &files.words, &ids).iter().filter_map(|&i| files.words.entry(i)).map(|e| e.bytes).sum::<u64>();
    }
    Ok(total as f64 / queries.len().max(1) as f64)
}

fn write_manifest(out: &Path, m: &AssetManifest) -> Result<FileEntry, CliError> {
    write_file(out, "manifest.json", &serde_json::to_vec_pretty(m).map_err(|e| CliError::json("manifest.json", e))?)
}

/// What compression costs (step 5): MKQA-R multilingual mAP of base and the default model,
/// native f32 vs the page's path rebuilt from the written bundle with the page's own engine code.
fn measure_page_quality(
    args: &WebAssetsArgs,
    cache: &Path,
    manifest: &mut AssetManifest,
    checkpoints: &[Checkpoint],
    mkqa: &Task,
    native: &BTreeMap<(String, String), Vec<f32>>,
) -> Result<(), CliError> {
    let device = BackendKind::Flex.device()?;
    let opts = EvalOptions { bootstrap_samples: 0, ..Default::default() };
    let q_texts: Vec<&str> = mkqa.queries.iter().map(|q| q.text.as_str()).collect();
    for name in ["base".to_string(), manifest.default_model.clone()].into_iter().collect::<BTreeSet<_>>() {
        let (Some(pool_f32), Some(ckpt)) = (native.get(&("mkqa".to_string(), name.clone())), manifest.models.iter().position(|m| m.name == name).map(|i| &checkpoints[i]))
        else {
            continue;
        };
        let native_encoder = encoder_for(ckpt, &args.model)?;
        let (q_native, _, _) = embed_cached(&native_encoder, cache, &q_texts, Role::Query, &format!("{name} queries"))?;
        let (native, _, _) =
            report::evaluate_task(mkqa, &q_native, pool_f32, native_encoder.dim(), &device, &opts, |_| {}).map_err(CliError::Usage)?;
        let mut page = PageEngine::open(&args.out, Some(&name), &args.model)?;
        let mut bar = progress_bar(q_texts.len(), &format!("{name} queries, page path"));
        let q_page = page.encode(&q_texts, Role::Query, |n| bar.inc(n as u64))?;
        bar.finish_and_clear();
        let (web, _, _) = report::evaluate_task(mkqa, &q_page, &page.pool_vectors("mkqa")?, page.encoder.dim(), &device, &opts, |_| {})
            .map_err(CliError::Usage)?;
        eprintln!(
            "{name}: MKQA-R multilingual mAP native {:.5}, page path {:.5} (delta {:+.5})",
            native.macro_avg.multi.map,
            web.macro_avg.multi.map,
            web.macro_avg.multi.map - native.macro_avg.multi.map
        );
        manifest.compression.map_native.insert(name.clone(), native.macro_avg.multi.map);
        manifest.compression.map_browser.insert(name, web.macro_avg.multi.map);
    }
    Ok(())
}

/// Bytes of a first visit's data (the default model and first pool), before the wasm.
fn default_page_bytes(m: &AssetManifest) -> u64 {
    let d = m.models.iter().find(|x| x.name == m.default_model);
    let pool = m.pools.first();
    m.model.bytes
        + m.tokenizer.bytes
        + m.examples.bytes
        + m.results.as_ref().map_or(0, |r| r.bytes)
        + pool.map_or(0, |p| p.texts.bytes)
        + d.map(|d| {
            d.delta.as_ref().map_or(0, |f| f.bytes)
                + d.delta_manifest.as_ref().map_or(0, |f| f.bytes)
                + pool.and_then(|p| d.pools.get(&p.name)).map_or(0, |f| f.bytes)
        })
        .unwrap_or(0)
}

pub fn web_assets(mut args: WebAssetsArgs) -> Result<(), CliError> {
    if let Some(dir) = args.sweep.take() {
        if !dir.join("results").is_dir() {
            return Err(CliError::Usage(format!(
                "--sweep {0}: no {0}/results folder (run `hybrid-ir sweep --models {0}/models --results {0}/results` first)",
                dir.display()
            )));
        }
        (args.checkpoints, args.results, args.study) = (dir.join("models"), dir.join("results"), dir.join("study"));
    }
    let data = crate::sources::data_root(args.data.as_deref());
    let out = &args.out;
    std::fs::create_dir_all(out).map_err(|e| CliError::io(out.display(), e))?;
    let base = load_checkpoint("base")?;
    let tok_path = super::paths::base_model_dir().join("tokenizer.json");
    let tok_bytes = std::fs::read(&tok_path).map_err(|e| CliError::io(tok_path.display(), e))?;
    let tokenizer = TextTokenizer::from_bytes(&tok_bytes, &tok_path.display().to_string()).map_err(crate::encoder::EncodeError::from)?;

    let files = write_model_files(out, &base, &tokenizer, &tok_bytes, &data)?;
    let (mkqa, xquad) = load_pools(&args, &data)?;
    let pools: Vec<(&str, &str, &Task)> =
        vec![("mkqa", "MKQA-R answers (12 languages)", &mkqa), ("xquad-r", "XQuAD-R held-out sentences (11 languages)", &xquad)];
    let (pool_entries, examples_entry) = write_pools_and_examples(out, &args, &data, &pools)?;
    let mut models = write_models(out, &args, &base)?;
    let cache = cache_dir(args.cache_dir.as_ref());
    let base_encoder = encoder_for(&base, &args.model)?;
    let native = write_pool_embeddings(out, &base_encoder, &cache, &mut models, &pools)?;
    let default_model = args
        .default_model
        .clone()
        .unwrap_or_else(|| if models.entries.iter().any(|m| m.name == "alpha-0.5-seed-1") { "alpha-0.5-seed-1".into() } else { "base".into() });
    if !models.entries.iter().any(|m| m.name == default_model) {
        return Err(CliError::Usage(format!("--default-model {default_model} is not among the models")));
    }
    let q_texts: Vec<&str> = mkqa.queries.iter().map(|q| q.text.as_str()).collect();
    let first_query_shard_bytes = first_query_shard_bytes(&files, &tokenizer, &q_texts, args.model.max_len_query)?;
    let inputs = ReferenceInputs {
        cut: args.pool_limit,
        models: models.entries.iter().zip(&models.checkpoints).collect(),
        model_args: &args.model,
        pools: &native,
        cache: &cache,
        committed: &args.results,
    };
    let reproduce = write_entries(out, &pools, &inputs)?;
    let sweep_json = args.results.join("sweep.json");
    let results = match std::fs::read(&sweep_json) {
        Ok(bytes) => Some(write_file(out, "results/sweep.json", &sweep_with_study(&bytes, &sweep_json, &args.study.join("study.json"))?)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(CliError::io(sweep_json.display(), e)),
    };
    let mut manifest = AssetManifest {
        schema: ASSETS_SCHEMA.into(),
        version: ASSETS_VERSION,
        git_commit: git_commit(),
        created_unix: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        base_sha256: base.sha256.clone(),
        model: files.model.clone(),
        words: files.words.clone(),
        tokenizer: files.tokenizer.clone(),
        models: models.entries,
        default_model,
        pools: pool_entries,
        examples: examples_entry,
        results,
        compression: Compression { unk_rate: files.unk_rate.clone(), first_query_shard_bytes, ..Default::default() },
        data: mkqa.checksums.iter().chain(&xquad.checksums).cloned().collect(),
        pool_limit: args.pool_limit,
        reproduce,
    };
    // Written before the check so that it reads the bundle exactly as the page will.
    write_manifest(out, &manifest)?;
    if !args.skip_quality_check {
        measure_page_quality(&args, &cache, &mut manifest, &models.checkpoints, &mkqa, &native)?;
    }
    write_manifest(out, &manifest)?;
    check_page_quality(&manifest.compression)?;
    eprintln!(
        "wrote {} (default page data: {:.1} MB before the wasm, plus {:.2} MB of word shards for a typical first query)",
        out.join("manifest.json").display(),
        default_page_bytes(&manifest) as f64 / 1e6,
        manifest.compression.first_query_shard_bytes / 1e6
    );
    Ok(())
}

/// Most multilingual mAP the page's path (int8 pools) may lose against native f32 pools.
pub const MAX_PAGE_MAP_LOSS: f64 = 0.005;

/// Fails when the page's compressed pools cost more than [`MAX_PAGE_MAP_LOSS`] for a checked model
/// (the bundle is written all the same, so its numbers can be inspected).
fn check_page_quality(c: &Compression) -> Result<(), CliError> {
    let over: Vec<String> = c
        .map_native
        .iter()
        .filter_map(|(name, native)| {
            let page = c.map_browser.get(name)?;
            ((native - page).abs() > MAX_PAGE_MAP_LOSS).then(|| format!("{name}: native {native:.5}, page {page:.5}"))
        })
        .collect();
    if over.is_empty() {
        return Ok(());
    }
    Err(CliError::Bundle(format!(
        "the page's MKQA-R mAP differs from native by more than {MAX_PAGE_MAP_LOSS} ({}); the int8 pools lose too much",
        over.join("; ")
    )))
}

/// The sweep results with the study's statistics (`study_path`, when present) under `study`:
/// one file for the page's plots.
fn sweep_with_study(sweep: &[u8], sweep_path: &Path, study_path: &Path) -> Result<Vec<u8>, CliError> {
    let Ok(study) = std::fs::read(study_path) else { return Ok(sweep.to_vec()) };
    let bad = |what: &Path, e: serde_json::Error| CliError::json(what.display(), e);
    let mut doc: serde_json::Value = serde_json::from_slice(sweep).map_err(|e| bad(sweep_path, e))?;
    let study: serde_json::Value = serde_json::from_slice(&study).map_err(|e| bad(study_path, e))?;
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("study".into(), study);
    }
    serde_json::to_vec(&doc).map_err(|e| CliError::json("bundled results", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_quality_limit_fails_the_bundle() {
        let mut c = Compression::default();
        c.map_native.insert("base".into(), 0.0500);
        c.map_browser.insert("base".into(), 0.0460);
        assert!(check_page_quality(&c).is_ok());
        c.map_browser.insert("base".into(), 0.0440);
        let err = check_page_quality(&c).unwrap_err().to_string();
        assert!(err.contains("base: native 0.05000, page 0.04400"), "{err}");
    }
}
