//! `hybrid-ir eval`: embed (through the on-disk cache), rank, score, report.

use std::path::PathBuf;

use super::embed::{cache_dir, embed_cached, pool_role};
use super::{git_commit, load_encoder, print_counts, progress_bar, write_questions, CliError, ModelArgs};
use crate::report::{self, EvalOptions, Report, TaskReport};
use crate::tasks::{self, TaskKind, TaskSelection};
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
            "{}: embed {:.1}+{:.1} s, score {:.1} s, metrics {:.1} s; truncated {} queries, {} pool texts",
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
