//! Evaluation of the sweep's models: the tasks are loaded once per process, each text list's
//! trunk features come from the trunk store (computed there once for every process and node),
//! and each model runs only its own top layers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{Stages, SweepCmd};
use crate::cli::embed::{embed_top, pool_role, trunk_features, truncated_texts};
use crate::cli::print_counts;
use crate::cli::CliError;
use crate::encoder::{BackendKind, Encoder, Features, TrunkStore};
use crate::model::BertLayer;
use crate::report::{self, EvalOptions, QuestionTable, TaskReport};
use crate::tasks::{self, Task, TaskKind};
use crate::tokenize::Role;

pub(super) struct Evaluator {
    cache: PathBuf,
    store: TrunkStore,
    split: usize,
    bootstrap: usize,
    tasks: Vec<Task>,
    /// Trunk features in memory by (role, sha256 of the text list).
    trunk: HashMap<(bool, String), Option<Features>>,
    /// Per task index: (queries, pool texts) cut to the length limit. The same for every model
    /// (tokenizer and limits are shared), so counted once.
    truncated: HashMap<usize, (usize, usize)>,
}

/// The texts of a task's queries and of its pool, with the pool's role.
fn task_texts(task: &Task) -> (Vec<String>, Vec<String>, Role) {
    let q = task.queries.iter().map(|q| q.text.clone()).collect();
    let p = task.pool.iter().map(|c| c.text.clone()).collect();
    (q, p, pool_role(task))
}

fn refs(texts: &[String]) -> Vec<&str> {
    texts.iter().map(String::as_str).collect()
}

impl Evaluator {
    pub(super) fn new(data: &Path, kinds: &[TaskKind], cmd: &SweepCmd, cache: PathBuf, store: TrunkStore, split: usize) -> Result<Self, CliError> {
        let mut tasks = Vec::new();
        for &kind in kinds {
            let mut task = tasks::load_task(kind, data)?;
            if kind == TaskKind::MkqaConsistency && cmd.consistency_questions > 0 {
                task = task.restrict(None, Some(cmd.consistency_questions));
            }
            if cmd.eval_pool_limit > 0 && task.labelled && !task.pool_is_queries {
                task = task.sample(cmd.eval_pool_limit);
            }
            print_counts(&task);
            tasks.push(task);
        }
        Ok(Evaluator { cache, store, split, bootstrap: cmd.bootstrap, tasks, trunk: HashMap::new(), truncated: HashMap::new() })
    }

    /// Makes sure the store holds the trunk features of every task's queries and pool
    /// (the `prepare` stage); returns how many text lists had to be computed.
    pub(super) fn prepare(&mut self, encoder: &Encoder, stages: &mut Stages) -> Result<usize, CliError> {
        let mut computed = 0;
        for i in 0..self.tasks.len() {
            let (q, p, role) = task_texts(&self.tasks[i]);
            let name = self.tasks[i].kind.name();
            for (texts, role, side) in [(q, Role::Query, "queries"), (p, role, "pool")] {
                let texts = refs(&texts);
                if self.store.contains(encoder, &texts, role, self.split) {
                    continue;
                }
                let t0 = Instant::now();
                let what = format!("{name} {side}");
                let features = trunk_features(encoder, Some(&self.store), &texts, role, self.split, &what)?;
                stages.record(format!("trunk {what}"), t0);
                self.trunk.insert(key(&texts, role), Some(features));
                computed += 1;
            }
        }
        Ok(computed)
    }

    /// Vectors of `texts` for one model (its sha256 keys the embedding cache).
    fn embed(&mut self, encoder: &Encoder, sha: &str, layers: &[BertLayer], texts: &[&str], role: Role, what: &str) -> Result<Vec<f32>, CliError> {
        let trunk = self.trunk.entry(key(texts, role)).or_default();
        embed_top(encoder, &self.cache, sha, layers, self.split, texts, role, what, trunk, Some(&self.store))
    }

    /// Every task for one model: reports and per-question tables.
    pub(super) fn evaluate(&mut self, encoder: &Encoder, name: &str, sha: &str, layers: &[BertLayer], stages: &mut Stages) -> Result<Vec<(TaskReport, QuestionTable)>, CliError> {
        let device = BackendKind::Flex.device()?;
        let mut out = Vec::new();
        for i in 0..self.tasks.len() {
            let t0 = Instant::now();
            let (kind, labelled) = (self.tasks[i].kind, self.tasks[i].labelled);
            let (q, p, role) = task_texts(&self.tasks[i]);
            let qv = self.embed(encoder, sha, layers, &refs(&q), Role::Query, &format!("{} queries ({name})", kind.name()))?;
            let pv = self.embed(encoder, sha, layers, &refs(&p), role, &format!("{} pool ({name})", kind.name()))?;
            let t_embed = t0.elapsed().as_secs_f64();
            let opts = EvalOptions { bootstrap_samples: self.bootstrap, seed: 1, ..Default::default() };
            let (mut rep, _, questions) =
                report::evaluate_task(&self.tasks[i], &qv, &pv, encoder.dim(), &device, &opts, |_| {}).map_err(CliError::Usage)?;
            rep.timings.embed_queries_s = t_embed;
            (rep.truncated_queries, rep.truncated_pool) = match self.truncated.get(&i) {
                Some(&counts) => counts,
                None => {
                    let counts = (truncated_texts(encoder, &refs(&q), &[], Role::Query)?, truncated_texts(encoder, &refs(&p), &[], role)?);
                    self.truncated.insert(i, counts);
                    counts
                }
            };
            if labelled {
                eprintln!(
                    "{name} {}: mAP mono {:.4} cross {:.4} multi {:.4}, bias {:.0}",
                    rep.task, rep.macro_avg.mono.map, rep.macro_avg.cross.map, rep.macro_avg.multi.map, rep.bias.mean
                );
            } else {
                eprintln!("{name} {}: consistency {:.4}", rep.task, rep.consistency.unwrap_or(f64::NAN));
            }
            stages.record(format!("evaluate {name} {}", kind.name()), t0);
            out.push((rep, questions));
        }
        Ok(out)
    }
}

fn key(texts: &[&str], role: Role) -> (bool, String) {
    (role == Role::Query, crate::model::sha256_hex(texts.join("\u{1f}").as_bytes()))
}
