//! Reproducing published figures with the page's engine: the bundle step that ships each task's
//! queries and every model's reference figures (`web-assets`), and `hybrid-ir reproduce`, the
//! page's "Reproduce" run done natively on the same bundle files and code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::bundle::PageEngine;
use super::embed::embed_cached;
use super::web_assets::{encoder_for, json, write_file};
use super::{CliError, ModelArgs};
use crate::assets::reproduce::{self, bundle_task, figures, task_queries, Check, Figures, Mode, Reference, ReproduceEntry, Size, TaskQuery};
use crate::assets::ModelEntry;
use crate::encoder::BackendKind;
use crate::model::Checkpoint;
use crate::report::QuestionTable;
use crate::tasks::Task;
use crate::tokenize::Role;

/// What the references of a bundle's models are computed from.
pub(super) struct ReferenceInputs<'a> {
    /// Set for a cut bundle (`--pool-limit`): its pools are not the committed runs' pools, so
    /// its references are native runs on the cut pools.
    pub cut: Option<usize>,
    /// (model entry, its checkpoint) per model.
    pub models: Vec<(&'a ModelEntry, &'a Checkpoint)>,
    pub model_args: &'a ModelArgs,
    /// Native f32 pool embeddings by (pool, model).
    pub pools: &'a BTreeMap<(String, String), Vec<f32>>,
    pub cache: &'a Path,
    /// Folder of the committed per-model results (`results/sweep`).
    pub committed: &'a Path,
}

/// Writes `reproduce/<task>.json` (the queries) for each pool's task and returns the manifest
/// entries with every model's references for the sample and the whole task.
pub(super) fn write_entries(out: &Path, pools: &[(&str, &str, &Task)], inputs: &ReferenceInputs) -> Result<Vec<ReproduceEntry>, CliError> {
    let mut entries = Vec::new();
    for (pool, title, task) in pools {
        let name = task.kind.name();
        let queries = task_queries(task);
        let file = write_file(out, &format!("reproduce/{name}.json"), &json(&queries)?)?;
        let mut references = Vec::new();
        for (model, checkpoint) in &inputs.models {
            let table = match inputs.cut {
                None => committed_table(inputs.committed, &model.name, task)?,
                Some(limit) => Some((native_table(task, checkpoint, inputs, pool, &model.name)?, format!("native f32 run of this bundle's cut pool (web-assets --pool-limit {limit})"))),
            };
            let Some((table, source)) = table else { continue };
            for size in [Size::Sample, Size::Whole] {
                references.push(Reference { model: model.name.clone(), size, figures: figures(&table, size.questions()), source: source.clone() });
            }
        }
        entries.push(ReproduceEntry {
            task: name.into(),
            pool: pool.to_string(),
            title: title.to_string(),
            queries: file,
            questions: distinct_questions(task).len(),
            query_count: task.queries.len(),
            sample_queries: task.restrict(None, Size::Sample.questions()).queries.len(),
            references,
        });
    }
    Ok(entries)
}

fn distinct_questions(task: &Task) -> Vec<&str> {
    let mut seen = std::collections::HashSet::new();
    task.queries.iter().map(|q| q.qid.as_str()).filter(|q| seen.insert(*q)).collect()
}

/// The committed per-question table of `model` on `task` (`results/sweep/<model>/`), checked
/// to index the task's questions in its order (else a sample would mean other questions).
fn committed_table(dir: &Path, model: &str, task: &Task) -> Result<Option<(QuestionTable, String)>, CliError> {
    let path = dir.join(model).join(format!("{}.questions.st.gz", task.kind.name()));
    let Ok(bytes) = std::fs::read(&path) else {
        eprintln!("{} not found: no {} reference for {model}", path.display(), task.kind.name());
        return Ok(None);
    };
    let table = QuestionTable::from_bytes(&bytes, &path.display().to_string()).map_err(CliError::Bundle)?;
    if table.index.questions.iter().map(String::as_str).ne(distinct_questions(task)) {
        return Err(CliError::Bundle(format!("{}: indexes other questions than the bundle's {} task; evaluate the model again", path.display(), task.kind.name())));
    }
    Ok(Some((table, path.display().to_string())))
}

/// `model`'s per-question table of `task` from native f32 embeddings (queries through the
/// embedding cache, the pool as written for the bundle).
fn native_table(task: &Task, checkpoint: &Checkpoint, inputs: &ReferenceInputs, pool: &str, model: &str) -> Result<QuestionTable, CliError> {
    let encoder = encoder_for(checkpoint, inputs.model_args)?;
    let pool_vectors = inputs.pools.get(&(pool.to_string(), model.to_string())).ok_or_else(|| CliError::Bundle(format!("no native {pool} embeddings of {model}")))?;
    let texts: Vec<&str> = task.queries.iter().map(|q| q.text.as_str()).collect();
    let (queries, _, _) = embed_cached(&encoder, inputs.cache, &texts, Role::Query, &format!("{model} {} queries", task.kind.name()))?;
    evaluate(task, &queries, pool_vectors, encoder.dim())
}

/// [`reproduce::score`] on the CPU.
fn evaluate(task: &Task, queries: &[f32], pool: &[f32], dim: usize) -> Result<QuestionTable, CliError> {
    reproduce::score(task, queries, pool, dim, &BackendKind::Flex.device()?).map_err(CliError::Usage)
}

#[derive(clap::Args, Debug)]
pub struct ReproduceArgs {
    /// The web bundle: a folder with manifest.json, as `hybrid-ir web-assets` writes it.
    #[arg(long, default_value = "www/assets")]
    assets: PathBuf,
    /// Model of the bundle (default: the bundle's default model).
    #[arg(long)]
    bundle_model: Option<String>,
    /// Task: xquad-r-heldout or mkqa (those the bundle ships).
    #[arg(long, default_value = "xquad-r-heldout")]
    task: String,
    /// `sample` (the first 25 questions, as `hybrid-ir eval --max-questions 25`) or `whole`.
    #[arg(long, value_enum, default_value_t = Size::Sample)]
    size: Size,
    /// `shipped`: the bundle's int8 pool index; `scratch`: the pool encoded again (f32).
    #[arg(long, value_enum, default_value_t = Mode::Shipped)]
    mode: Mode,
    /// Print figures and checks as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    model: ModelArgs,
}

/// A reproduction's outcome, as the page shows it.
#[derive(serde::Serialize)]
struct Outcome<'a> {
    model: &'a str,
    task: &'a str,
    queries: usize,
    figures: &'a Figures,
    reference: &'a Reference,
    checks: &'a [Check],
}

pub fn reproduce(args: ReproduceArgs) -> Result<(), CliError> {
    let (size, mode) = (args.size, args.mode);
    let mut page = PageEngine::open(&args.assets, args.bundle_model.as_deref(), &args.model)?;
    let entry = page.manifest.reproduce.iter().find(|e| e.task == args.task).cloned().ok_or_else(|| {
        let tasks: Vec<&str> = page.manifest.reproduce.iter().map(|e| e.task.as_str()).collect();
        CliError::Usage(format!("the bundle has no task {} to reproduce (it has: {})", args.task, tasks.join(", ")))
    })?;
    let reference = entry.reference(&page.model.name, size).cloned().ok_or_else(|| CliError::Bundle(format!("the bundle has no reference figures of {} on {}", page.model.name, entry.task)))?;
    let queries: Vec<TaskQuery> = serde_json::from_slice(&page.read(&entry.queries)?).map_err(|e| CliError::json(&entry.queries.path, e))?;
    let texts = page.pool_texts(&entry.pool)?;
    let task = bundle_task(&entry.task, &queries, &texts, size).map_err(CliError::Bundle)?;
    let q_texts: Vec<&str> = task.queries.iter().map(|q| q.text.as_str()).collect();
    let mut bar = super::progress_bar(q_texts.len(), "queries");
    let q = page.encode(&q_texts, Role::Query, |n| bar.inc(n as u64))?;
    bar.finish_and_clear();
    let pool = match mode {
        Mode::Shipped => page.pool_vectors(&entry.pool)?,
        Mode::Scratch => {
            let p_texts: Vec<&str> = texts.texts.iter().map(String::as_str).collect();
            let mut bar = super::progress_bar(p_texts.len(), "pool");
            let v = page.encode(&p_texts, Role::Passage, |n| bar.inc(n as u64))?;
            bar.finish_and_clear();
            v
        }
    };
    let measured = figures(&evaluate(&task, &q, &pool, page.encoder.dim())?, None);
    let checks = reproduce::verdict(&measured, &reference.figures, mode);
    let outcome = Outcome { model: &page.model.name, task: &entry.task, queries: task.queries.len(), figures: &measured, reference: &reference, checks: &checks };
    if args.json {
        println!("{}", serde_json::to_string(&outcome).map_err(|e| CliError::json("the outcome", e))?);
    } else {
        println!("{} on {} ({} questions, {} queries), {:?} pool; reference: {}", outcome.model, outcome.task, measured.questions, outcome.queries, mode, reference.source);
        println!("{:<10} {:>10} {:>10} {:>10} {:>9}  ok", "figure", "measured", "reference", "diff", "allowed");
        for c in &checks {
            println!("{:<10} {:>10.5} {:>10.5} {:>+10.5} {:>9.5}  {}", c.figure, c.measured, c.reference, c.diff, c.allowed, if c.ok { "yes" } else { "NO" });
        }
    }
    if checks.iter().all(|c| c.ok) {
        Ok(())
    } else {
        Err(CliError::Usage(format!("{} figures differ from the reference by more than allowed", checks.iter().filter(|c| !c.ok).count())))
    }
}
