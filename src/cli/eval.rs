//! `hybrid-ir eval`: embed (through the on-disk cache), rank, score, report.

use std::path::PathBuf;
use std::time::Instant;

use super::{load_encoder, progress_bar, CliError, ModelArgs};
use crate::encoder::Encoder;
use crate::rankings::EmbeddingCache;
use crate::report::{self, EvalOptions, Report, TaskReport};
use crate::tasks::{self, Task, TaskKind, TaskSelection};
use crate::tokenize::Role;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Which task to evaluate: xquad-r, xquad-r-heldout, mlqa-r, mkqa, mkqa-consistency, or all.
    #[arg(long, default_value = "mkqa", value_parser = TaskKind::parse_selection)]
    task: TaskSelection,
    /// Data folder (default: $HYBRID_IR_DATA or ../shared/data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Write DIR/report.json, DIR/<task>.csv (and TREC files with --trec).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also export TREC run + qrels per task, setting and language (pair).
    #[arg(long)]
    trec: bool,
    /// Ranked candidates per query in exported runs (0 = the whole pool, exact trec_eval map).
    #[arg(long, default_value_t = 1000)]
    trec_depth: usize,
    /// Seed of the bootstrap resampling.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Bootstrap resamples for the 95% intervals.
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
    /// Only these languages (comma-separated), for quick runs.
    #[arg(long, value_delimiter = ',')]
    langs: Option<Vec<String>>,
    /// Only the first N questions (each in all its languages), for quick runs.
    #[arg(long)]
    max_questions: Option<usize>,
    /// Embedding cache folder (default: $HYBRID_IR_CACHE/embeddings or ~/.cache/hybrid-ir/embeddings).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
}

pub(crate) fn cache_dir(arg: Option<&PathBuf>) -> PathBuf {
    arg.cloned().unwrap_or_else(|| {
        std::env::var_os("HYBRID_IR_CACHE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/hybrid-ir")))
            .unwrap_or_else(|| PathBuf::from(".cache"))
            .join("embeddings")
    })
}

/// Embeds `texts`, encoding only those not cached yet; returns (vectors, truncated, seconds).
pub(crate) fn embed_cached(
    encoder: &Encoder,
    dir: &std::path::Path,
    texts: &[&str],
    role: Role,
    what: &str,
) -> Result<(Vec<f32>, usize, f64), CliError> {
    let t0 = Instant::now();
    let mut cache = open_cache(dir, &encoder.model_sha256, role, encoder)?;
    let missing = cache.missing(texts);
    let mut truncated = 0;
    if !missing.is_empty() {
        let mut bar = progress_bar(missing.len(), &format!("embedding {what}"));
        // Encode in slices so a long run saves progress to the cache as it goes.
        for chunk in missing.chunks(4096) {
            let slice: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            let emb = encoder.encode(&slice, role, |n| bar.inc(n as u64))?;
            truncated += emb.truncated;
            for (row, t) in slice.iter().enumerate() {
                cache.insert(t, emb.row(row));
            }
            cache.save()?;
        }
        bar.finish_and_clear();
    }
    let vectors = cache.gather(texts)?;
    Ok((vectors, truncated, t0.elapsed().as_secs_f64()))
}

/// Vectors of `texts` for one model whose layers below `split` are the shared trunk: cached
/// vectors from its embedding cache (keyed by `sha`), the rest through the trunk features in
/// `trunk` (computed for all `texts` on first need and kept there for the next model) and the
/// model's own top `layers`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn embed_top(
    encoder: &Encoder,
    dir: &std::path::Path,
    sha: &str,
    layers: &[crate::model::BertLayer],
    split: usize,
    texts: &[&str],
    role: Role,
    what: &str,
    trunk: &mut Option<crate::encoder::Features>,
    store: Option<&crate::encoder::TrunkStore>,
) -> Result<Vec<f32>, CliError> {
    let mut cache = open_cache(dir, sha, role, encoder)?;
    let missing = cache.missing(texts);
    if !missing.is_empty() {
        if trunk.is_none() {
            *trunk = Some(trunk_features(encoder, store, texts, role, split, what)?);
        }
        let feats = trunk.as_ref().expect("computed above");
        let mut bar = progress_bar(missing.len(), what);
        let emb = encoder.encode_features(&feats.select(&missing), layers, |n| bar.inc(n as u64))?;
        bar.finish_and_clear();
        for (row, &i) in missing.iter().enumerate() {
            cache.insert(texts[i], emb.row(row));
        }
        cache.save()?;
    }
    Ok(cache.gather(texts)?)
}

/// Layers `[0, split)` on `texts`: from `store` when it holds them (or computed and stored
/// there), else computed; a progress bar while computing.
pub(crate) fn trunk_features(
    encoder: &Encoder,
    store: Option<&crate::encoder::TrunkStore>,
    texts: &[&str],
    role: Role,
    split: usize,
    what: &str,
) -> Result<crate::encoder::Features, CliError> {
    let mut bar: Option<super::encode::Progress> = None;
    let progress = |n: usize| bar.get_or_insert_with(|| progress_bar(texts.len(), &format!("{what} trunk"))).inc(n as u64);
    let features = match store {
        None => encoder.features(texts, role, split, progress)?,
        Some(store) => {
            let (features, origin) = store.features(encoder, texts, role, split, progress)?;
            if let crate::encoder::Origin::Replaced(why) = origin {
                eprintln!("warning: the stored trunk features of {what} were unreadable ({why}); computed again");
            }
            features
        }
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(features)
}

/// Embeds `texts` with several checkpoints that share every layer below `split` (fine-tuned deltas
/// of one base): the trunk runs once, then each checkpoint's own top layers ([`embed_top`]).
/// Returns, per model, the vectors and the seconds spent (the first model pays for the trunk).
pub(crate) fn embed_shared_trunk(
    encoder: &Encoder,
    dir: &std::path::Path,
    models: &[(String, String, Vec<crate::model::BertLayer>)],
    split: usize,
    texts: &[&str],
    role: Role,
    what: &str,
) -> Result<Vec<(Vec<f32>, f64)>, CliError> {
    let mut trunk = None;
    models
        .iter()
        .map(|(name, sha, layers)| {
            let t0 = Instant::now();
            let v = embed_top(encoder, dir, sha, layers, split, texts, role, &format!("{what} {role:?} {name}"), &mut trunk, None)?;
            Ok((v, t0.elapsed().as_secs_f64()))
        })
        .collect()
}

pub(crate) fn open_cache(dir: &std::path::Path, model_sha256: &str, role: Role, encoder: &Encoder) -> Result<EmbeddingCache, CliError> {
    let role_name = match role {
        Role::Query => "query",
        Role::Passage => "passage",
    };
    Ok(EmbeddingCache::open(dir, model_sha256, crate::encoder::PIPELINE_VERSION, role_name, encoder.config.max_len(role), encoder.dim())?)
}

/// The role pool texts are embedded in: passages, or queries when the pool is the questions.
pub(crate) fn pool_role(task: &Task) -> Role {
    if task.pool_is_queries {
        Role::Query
    } else {
        Role::Passage
    }
}

/// Writes `dir/<task>.questions.st.gz` atomically.
pub(crate) fn write_questions(dir: &std::path::Path, table: &report::QuestionTable) -> Result<(), CliError> {
    let bytes = table.to_bytes().map_err(CliError::Usage)?;
    super::write_atomic(&dir.join(crate::study::questions_file(&table.index.task)), &bytes)
}

pub(crate) fn print_counts(task: &Task) {
    let counts = tasks::counts(task);
    let line = counts.iter().map(|(l, (q, p))| format!("{l} {q}/{p}")).collect::<Vec<_>>().join(", ");
    eprintln!(
        "{}: {} queries, {} pool candidates (per language queries/pool: {line})",
        task.kind.name(),
        task.queries.len(),
        task.pool.len()
    );
}

pub(crate) fn git_commit() -> String {
    std::process::Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

pub fn eval(args: EvalArgs) -> Result<(), CliError> {
    let data = crate::sources::data_root(args.data.as_deref());
    let kinds = args.task.0.clone();
    let encoder = load_encoder(&args.model)?;
    let cache = cache_dir(args.cache_dir.as_ref());
    let opts = EvalOptions { trec: args.trec, trec_depth: args.trec_depth, bootstrap_samples: args.bootstrap, seed: args.seed };
    let device = crate::encoder::BackendKind::Flex.device()?;
    let mut reports: Vec<TaskReport> = Vec::new();
    for kind in kinds {
        let task = tasks::load_task(kind, &data)?;
        let task = if args.langs.is_some() || args.max_questions.is_some() {
            task.restrict(args.langs.as_deref(), args.max_questions)
        } else {
            task
        };
        print_counts(&task);
        let q_texts: Vec<&str> = task.queries.iter().map(|q| q.text.as_str()).collect();
        let p_texts: Vec<&str> = task.pool.iter().map(|c| c.text.as_str()).collect();
        let (qv, q_trunc, q_s) = embed_cached(&encoder, &cache, &q_texts, Role::Query, "queries")?;
        let (pv, p_trunc, p_s) = embed_cached(&encoder, &cache, &p_texts, pool_role(&task), "pool")?;
        let mut bar = progress_bar(task.queries.len(), "ranking");
        let (mut rep, trec, questions) = report::evaluate_task(&task, &qv, &pv, encoder.dim(), &device, &opts, |n| bar.inc(n as u64))
                .map_err(CliError::Usage)?;
        bar.finish_and_clear();
        rep.truncated_queries = q_trunc;
        rep.truncated_pool = p_trunc;
        rep.timings.embed_queries_s = q_s;
        rep.timings.embed_pool_s = p_s;
        eprintln!(
            "{}: embed {:.1}+{:.1} s, score {:.1} s, metrics {:.1} s; truncated {} queries, {} pool texts (newly encoded)",
            rep.task, q_s, p_s, rep.timings.score_s, rep.timings.metrics_s, q_trunc, p_trunc
        );
        if let Some(out) = &args.out {
            std::fs::create_dir_all(out).map_err(|e| CliError::io(out.display(), e))?;
            let csv = out.join(format!("{}.csv", rep.task));
            super::write_atomic(&csv, report::csv_table(&rep).as_bytes())?;
            write_questions(out, &questions)?;
            if args.trec {
                trec.write(out).map_err(|e| CliError::io(out.display(), e))?;
            }
        }
        reports.push(rep);
    }
    print!("{}", report::summary_table(&reports));
    if let Some(out) = &args.out {
        let report = Report {
            schema: report::REPORT_SCHEMA.into(),
            version: report::REPORT_VERSION,
            crate_version: env!("CARGO_PKG_VERSION").into(),
            git_commit: git_commit(),
            created_unix: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            model: report::ModelInfo { source: encoder.model_source.clone(), sha256: encoder.model_sha256.clone() },
            config: serde_json::json!({
                "backend": args.model.backend.name(),
                "batch_size": args.model.batch_size,
                "max_len_query": args.model.max_len_query,
                "max_len_passage": args.model.max_len_passage,
                "bootstrap": args.bootstrap,
                "langs": args.langs,
                "max_questions": args.max_questions,
                "trec_depth": args.trec_depth,
                "data": data.display().to_string(),
            }),
            seed: args.seed,
            tasks: reports,
        };
        let path = out.join("report.json");
        let text = serde_json::to_string_pretty(&report).map_err(|e| CliError::json("report.json", e))?;
        super::write_atomic(&path, text.as_bytes())?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
