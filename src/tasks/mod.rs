//! Retrieval tasks built from the sources: a multilingual pool, queries, and which pool
//! candidates are relevant to each query (docs/evaluation.md, Tasks). Settings (mono, cross,
//! multi) are restrictions of the pool by language, applied at scoring time.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use unicode_normalization::UnicodeNormalization;

use crate::sources::{self, FileChecksum, MkqaQuestion, SourceError, SquadRLang};

#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Stable, space-free id; ids sort in pool order (zero-padded) so tie-breaking by id is
    /// well defined.
    pub id: String,
    pub lang: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// `<qid>-<lang>`: unique per language version.
    pub id: String,
    /// Shared by the language versions of one question (the unit bootstrap resamples).
    pub qid: String,
    pub lang: String,
    pub text: String,
    /// Pool indices of relevant candidates, ascending (empty for label-free tasks).
    pub relevant: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskKind {
    XquadR,
    XquadRHeldout,
    MlqaR,
    Mkqa,
    MkqaConsistency,
    MkqaParallel,
}

impl TaskKind {
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::XquadR => "xquad-r",
            TaskKind::XquadRHeldout => "xquad-r-heldout",
            TaskKind::MlqaR => "mlqa-r",
            TaskKind::Mkqa => "mkqa",
            TaskKind::MkqaConsistency => "mkqa-consistency",
            TaskKind::MkqaParallel => "mkqa-parallel",
        }
    }
    pub fn all() -> [TaskKind; 6] {
        [TaskKind::XquadR, TaskKind::XquadRHeldout, TaskKind::MlqaR, TaskKind::Mkqa, TaskKind::MkqaConsistency, TaskKind::MkqaParallel]
    }

    /// A task name, or `all` for every task (the CLI's `--task`).
    pub fn parse_selection(s: &str) -> Result<TaskSelection, String> {
        if s == "all" {
            return Ok(TaskSelection(Self::all().to_vec()));
        }
        Self::all().into_iter().find(|k| k.name() == s).map(|k| TaskSelection(vec![k])).ok_or_else(|| {
            let names: Vec<&str> = Self::all().iter().map(|k| k.name()).collect();
            format!("unknown task {s:?}: expected one of {} or all", names.join(", "))
        })
    }
}

/// One or more tasks chosen by name.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSelection(pub Vec<TaskKind>);

#[derive(Debug, Clone)]
pub struct Task {
    pub kind: TaskKind,
    pub langs: Vec<String>,
    pub pool: Vec<Candidate>,
    pub queries: Vec<Query>,
    /// Whether queries carry relevance labels (false for MKQA consistency).
    pub labelled: bool,
    /// The pool holds the queries themselves (parallel-question retrieval): it is embedded in
    /// the query role, and each query's own entry (same language, same text) is not ranked.
    pub pool_is_queries: bool,
    /// Data files the task was built from, verified against SHA256SUMS.
    pub checksums: Vec<FileChecksum>,
    /// Question id (`qid`) -> cluster: questions of one article share context, so a bootstrap
    /// resamples whole clusters. Empty: every question is its own cluster (MKQA).
    pub clusters: BTreeMap<String, u32>,
}

impl Task {
    pub fn pool_count(&self, lang: &str) -> usize {
        self.pool.iter().filter(|c| c.lang == lang).count()
    }
    pub fn query_count(&self, lang: &str) -> usize {
        self.queries.iter().filter(|q| q.lang == lang).count()
    }
}

/// XQuAD articles are taken in file order; index i with i % 3 == 2 is held out of training
/// (docs/evaluation.md). Used by both the held-out task and the training-pair builder.
pub fn is_heldout_article(index: usize) -> bool {
    index % 3 == 2
}

/// LAReQA-style task from per-language SQuAD-R files. `keep_article` filters articles by index.
pub fn squad_r_task(kind: TaskKind, files: &[SquadRLang], keep_article: impl Fn(usize) -> bool) -> Task {
    let mut pool = Vec::new();
    // qid -> relevant candidate indices across languages
    let mut relevant: HashMap<String, BTreeSet<u32>> = HashMap::new();
    let mut questions = Vec::new();
    // (qid, (language, article index in that language's file)) of every question version.
    let mut articles_of: Vec<(String, (String, usize))> = Vec::new();
    for f in files {
        let mut n = 0usize;
        for (ai, a) in f.articles.iter().enumerate() {
            if !keep_article(ai) {
                continue;
            }
            for p in &a.paragraphs {
                let base = pool.len();
                for s in &p.sentences {
                    pool.push(Candidate { id: format!("{}-s{:05}", f.lang, n), lang: f.lang.clone(), text: s.clone() });
                    n += 1;
                }
                for q in &p.questions {
                    articles_of.push((q.id.clone(), (f.lang.clone(), ai)));
                    if let Some(si) = q.answer_sentence {
                        relevant.entry(q.id.clone()).or_default().insert((base + si) as u32);
                    }
                    questions.push((q.id.clone(), f.lang.clone(), q.text.clone()));
                }
            }
        }
    }
    let queries = questions
        .into_iter()
        .map(|(qid, lang, text)| Query {
            id: format!("{qid}-{lang}"),
            relevant: relevant.get(&qid).map(|s| s.iter().copied().collect()).unwrap_or_default(),
            qid,
            lang,
            text,
        })
        .collect();
    Task {
        kind,
        langs: files.iter().map(|f| f.lang.clone()).collect(),
        pool,
        queries,
        labelled: true,
        pool_is_queries: false,
        checksums: Vec::new(),
        clusters: article_clusters(&articles_of),
    }
}

/// Clusters of questions that share an article: an article of one language file is linked to
/// another language's article when a question (qid) appears in both, and each connected group
/// of articles is one cluster (XQuAD's files are parallel; MLQA's articles are numbered
/// differently per language). Cluster numbers follow first appearance.
fn article_clusters(articles_of: &[(String, (String, usize))]) -> BTreeMap<String, u32> {
    let mut node: HashMap<&(String, usize), usize> = HashMap::new();
    for (_, a) in articles_of {
        let n = node.len();
        node.entry(a).or_insert(n);
    }
    let mut parent: Vec<usize> = (0..node.len()).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let mut first_of: HashMap<&str, usize> = HashMap::new();
    for (qid, a) in articles_of {
        let n = node[a];
        let first = *first_of.entry(qid.as_str()).or_insert(n);
        let (ra, rb) = (root(&mut parent, first), root(&mut parent, n));
        if ra != rb {
            parent[ra.max(rb)] = ra.min(rb);
        }
    }
    let mut number: HashMap<usize, u32> = HashMap::new();
    let mut out = BTreeMap::new();
    for (qid, a) in articles_of {
        let r = root(&mut parent, node[a]);
        let next = number.len() as u32;
        let c = *number.entry(r).or_insert(next);
        out.entry(qid.clone()).or_insert(c);
    }
    out
}

/// Unicode NFKC, trimmed: two answers that print the same are one candidate.
pub fn normalize_answer(s: &str) -> String {
    s.nfkc().collect::<String>().trim().to_string()
}

/// The MKQA-R answer pool: per language, each distinct normalised answer string once,
/// candidates ordered by language then first appearance.
pub fn mkqa_pool(questions: &[MkqaQuestion]) -> (Vec<Candidate>, HashMap<(String, String), u32>) {
    let langs: BTreeSet<&String> = questions.iter().flat_map(|q| q.answers.keys()).collect();
    let mut pool = Vec::new();
    let mut index = HashMap::new();
    for lang in langs {
        let mut n = 0;
        for q in questions {
            for a in q.answers.get(lang).into_iter().flatten() {
                let norm = normalize_answer(a);
                if norm.is_empty() {
                    continue;
                }
                index.entry((lang.clone(), norm.clone())).or_insert_with(|| {
                    pool.push(Candidate { id: format!("{lang}-a{n:05}"), lang: lang.clone(), text: norm });
                    n += 1;
                    (pool.len() - 1) as u32
                });
            }
        }
    }
    (pool, index)
}

/// One query per language version of an MKQA question, all sharing `relevant`.
fn language_versions(q: &MkqaQuestion, relevant: Vec<u32>) -> impl Iterator<Item = Query> + '_ {
    q.queries.iter().map(move |(lang, text)| Query {
        id: format!("{}-{lang}", q.id),
        qid: q.id.clone(),
        lang: lang.clone(),
        text: text.clone(),
        relevant: relevant.clone(),
    })
}

/// MKQA-R: every language version of every question ranks the answer pool; relevant = in every
/// language, the candidates equal to one of the question's answers there.
pub fn mkqa_task(questions: &[MkqaQuestion]) -> Task {
    let (pool, index) = mkqa_pool(questions);
    let langs: Vec<String> =
        questions.iter().flat_map(|q| q.queries.keys().cloned()).collect::<BTreeSet<_>>().into_iter().collect();
    let mut queries = Vec::new();
    for q in questions {
        let mut rel = BTreeSet::new();
        for (lang, answers) in &q.answers {
            for a in answers {
                if let Some(&i) = index.get(&(lang.clone(), normalize_answer(a))) {
                    rel.insert(i);
                }
            }
        }
        queries.extend(language_versions(q, rel.into_iter().collect()));
    }
    Task { kind: TaskKind::Mkqa, langs, pool, queries, labelled: true, pool_is_queries: false, checksums: Vec::new(), clusters: BTreeMap::new() }
}

/// Parallel-question retrieval on MKQA-R's questions: every language version of a question
/// retrieves its translations among all questions in all languages (relevant = the same
/// question in every other language). A strong per-pair signal on the same questions as MKQA-R,
/// whose short answer strings make mAP small. Pool order: language, then question.
pub fn parallel_questions_task(questions: &[MkqaQuestion]) -> Task {
    let langs: Vec<String> =
        questions.iter().flat_map(|q| q.queries.keys().cloned()).collect::<BTreeSet<_>>().into_iter().collect();
    let mut pool = Vec::new();
    let mut index: HashMap<(&str, &str), u32> = HashMap::new();
    for lang in &langs {
        for q in questions {
            if let Some(text) = q.queries.get(lang) {
                index.insert((q.id.as_str(), lang.as_str()), pool.len() as u32);
                pool.push(Candidate { id: format!("{lang}-q{:05}", index.len() - 1), lang: lang.clone(), text: text.clone() });
            }
        }
    }
    let queries = questions
        .iter()
        .flat_map(|q| {
            let index = &index;
            q.queries.iter().map(move |(lang, text)| Query {
                id: format!("{}-{lang}", q.id),
                qid: q.id.clone(),
                lang: lang.clone(),
                text: text.clone(),
                relevant: q.queries.keys().filter(|l| *l != lang).filter_map(|l| index.get(&(q.id.as_str(), l.as_str())).copied()).collect::<BTreeSet<_>>().into_iter().collect(),
            })
        })
        .collect();
    Task { kind: TaskKind::MkqaParallel, langs, pool, queries, labelled: true, pool_is_queries: true, checksums: Vec::new(), clusters: BTreeMap::new() }
}

/// Builds a task from the data folder, verifying the checksums of the files it reads.
pub fn load_task(kind: TaskKind, data: &Path) -> Result<Task, SourceError> {
    if !data.is_dir() {
        return Err(SourceError::MissingRoot(data.display().to_string()));
    }
    let mut task = match kind {
        TaskKind::XquadR | TaskKind::XquadRHeldout => {
            let files = sources::read_squad_r_dir(&data.join("xquad-r"), true)?;
            if kind == TaskKind::XquadR {
                squad_r_task(kind, &files, |_| true)
            } else {
                squad_r_task(kind, &files, is_heldout_article)
            }
        }
        TaskKind::MlqaR => squad_r_task(kind, &sources::read_squad_r_dir(&data.join("mlqa-r"), true)?, |_| true),
        TaskKind::Mkqa => mkqa_task(&sources::read_mia_dir(&data.join("mkqa/mia-dev"))?),
        TaskKind::MkqaParallel => parallel_questions_task(&sources::read_mia_dir(&data.join("mkqa/mia-dev"))?),
        TaskKind::MkqaConsistency => {
            let dev = mkqa_task(&sources::read_mia_dir(&data.join("mkqa/mia-dev"))?);
            let test = sources::read_mia_dir(&data.join("mkqa/mia-test"))?;
            let queries: Vec<Query> = test.iter().flat_map(|q| language_versions(q, Vec::new())).collect();
            let langs = test.iter().flat_map(|q| q.queries.keys().cloned()).collect::<BTreeSet<_>>().into_iter().collect();
            Task { kind, langs, pool: dev.pool, queries, labelled: false, pool_is_queries: false, checksums: Vec::new(), clusters: BTreeMap::new() }
        }
    };
    let prefixes: &[&str] = match kind {
        TaskKind::XquadR | TaskKind::XquadRHeldout => &["xquad-r/"],
        TaskKind::MlqaR => &["mlqa-r/"],
        TaskKind::Mkqa | TaskKind::MkqaParallel => &["mkqa/mia-dev/"],
        TaskKind::MkqaConsistency => &["mkqa/mia-dev/", "mkqa/mia-test/"],
    };
    task.checksums = sources::verify_checksums(data, prefixes)?;
    Ok(task)
}

/// Per-language counts, as printed by the CLI and checked against SOURCES.md in tests.
pub fn counts(task: &Task) -> BTreeMap<String, (usize, usize)> {
    task.langs.iter().map(|l| (l.clone(), (task.query_count(l), task.pool_count(l)))).collect()
}

impl Task {
    /// A smaller task of about `max_candidates` candidates, for quick bundles (the CI's web page):
    /// whole questions (every language version) while their answers fill half the budget, then
    /// an even spread of the remaining pool as distractors. Relevance is re-indexed.
    pub fn sample(&self, max_candidates: usize) -> Task {
        if self.pool.len() <= max_candidates {
            return self.clone();
        }
        let mut answers: Vec<(&str, Vec<u32>)> = Vec::new();
        let mut slot: BTreeMap<&str, usize> = BTreeMap::new();
        for q in &self.queries {
            let i = *slot.entry(q.qid.as_str()).or_insert_with(|| {
                answers.push((q.qid.as_str(), Vec::new()));
                answers.len() - 1
            });
            answers[i].1.extend(&q.relevant);
        }
        let mut keep = vec![false; self.pool.len()];
        let mut kept = 0;
        let mut qids = std::collections::HashSet::new();
        for (qid, rel) in &answers {
            let new = rel.iter().filter(|&&r| !keep[r as usize]).collect::<std::collections::BTreeSet<_>>().len();
            if kept + new > max_candidates / 2 {
                break;
            }
            for &r in rel {
                keep[r as usize] = true;
            }
            kept += new;
            qids.insert(*qid);
        }
        let budget = max_candidates - kept;
        let stride = (self.pool.len() - kept).div_ceil(budget.max(1)).max(1);
        for (seen, k) in keep.iter_mut().filter(|k| !**k).enumerate() {
            if seen % stride == 0 && kept < max_candidates {
                *k = true;
                kept += 1;
            }
        }
        let mut new_index = vec![u32::MAX; self.pool.len()];
        let mut pool = Vec::with_capacity(kept);
        for (i, c) in self.pool.iter().enumerate().filter(|(i, _)| keep[*i]) {
            new_index[i] = pool.len() as u32;
            pool.push(c.clone());
        }
        let queries = self
            .queries
            .iter()
            .filter(|q| qids.contains(q.qid.as_str()))
            .map(|q| Query { relevant: q.relevant.iter().map(|&r| new_index[r as usize]).collect(), ..q.clone() })
            .collect();
        Task { pool, queries, ..self.clone() }
    }

    /// Keeps only `langs` (queries and pool; None = all) and the first `max_questions` distinct
    /// questions (None = all), re-indexing relevance; for quick, small evaluations.
    pub fn restrict(&self, langs: Option<&[String]>, max_questions: Option<usize>) -> Task {
        let keep_lang = |l: &str| langs.is_none_or(|ls| ls.iter().any(|x| x == l));
        let mut new_index = vec![u32::MAX; self.pool.len()];
        let mut pool = Vec::new();
        for (i, c) in self.pool.iter().enumerate() {
            if keep_lang(&c.lang) {
                new_index[i] = pool.len() as u32;
                pool.push(c.clone());
            }
        }
        let mut qids = std::collections::HashSet::new();
        let mut queries = Vec::new();
        for q in &self.queries {
            if !keep_lang(&q.lang) {
                continue;
            }
            if !qids.contains(&q.qid) {
                if max_questions.is_some_and(|m| qids.len() >= m) {
                    continue;
                }
                qids.insert(q.qid.clone());
            }
            let relevant = q.relevant.iter().map(|&r| new_index[r as usize]).filter(|&r| r != u32::MAX).collect();
            queries.push(Query { relevant, ..q.clone() });
        }
        Task {
            kind: self.kind,
            langs: self.langs.iter().filter(|l| keep_lang(l)).cloned().collect(),
            pool,
            queries,
            labelled: self.labelled,
            pool_is_queries: self.pool_is_queries,
            checksums: self.checksums.clone(),
            clusters: self.clusters.iter().filter(|(q, _)| qids.contains(q.as_str())).map(|(q, c)| (q.clone(), *c)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MLQA numbers articles differently per language: en's article 0 is de's article 1. The
    /// questions of one article form one cluster across languages, and no other article joins it.
    #[test]
    fn article_clusters_follow_questions_across_differently_numbered_files() {
        let q = |id: &str, lang: &str, a: usize| (id.to_string(), (lang.to_string(), a));
        let c = article_clusters(&[
            q("a1", "en", 0),
            q("a2", "en", 0),
            q("b1", "en", 1),
            q("a1", "de", 1),
            q("b1", "de", 0),
            q("c1", "de", 2), // only in German, in an article of its own
            q("a3", "de", 1), // only in German, but in the article a1 links to en's article 0
        ]);
        assert_eq!(c["a1"], c["a2"]);
        assert_eq!(c["a1"], c["a3"], "de article 1 is en article 0");
        assert_ne!(c["a1"], c["b1"]);
        assert_ne!(c["c1"], c["a1"]);
        assert_ne!(c["c1"], c["b1"]);
        assert_eq!(c.values().collect::<BTreeSet<_>>().len(), 3);
    }

    #[test]
    fn sample_keeps_whole_questions_with_their_answers_and_reindexes() {
        // 10 questions in two languages, each answered by its own candidate per language, plus
        // 80 distractors: a pool of 100.
        let mut pool: Vec<Candidate> = (0..100).map(|i| Candidate { id: format!("c{i:03}"), lang: ["en", "de"][i % 2].into(), text: format!("text {i}") }).collect();
        pool.reverse();
        let queries: Vec<Query> = ["en", "de"]
            .iter()
            .enumerate()
            .flat_map(|(l, lang)| (0..10u32).map(move |q| Query { id: format!("q{q}-{lang}"), qid: format!("q{q}"), lang: lang.to_string(), text: format!("question {q}"), relevant: vec![q * 2 + l as u32 + 50] }))
            .collect();
        let task = Task { kind: TaskKind::Mkqa, langs: vec!["en".into(), "de".into()], pool, queries, labelled: true, pool_is_queries: false, checksums: Vec::new(), clusters: BTreeMap::new() };
        let small = task.sample(20);
        assert_eq!(small.pool.len(), 20);
        // Half the budget: 5 questions x 2 answers; both language versions of each kept.
        assert_eq!(small.queries.len(), 10);
        for q in &small.queries {
            let original = task.queries.iter().find(|o| o.id == q.id).unwrap();
            assert_eq!(q.relevant.len(), 1);
            assert_eq!(small.pool[q.relevant[0] as usize], task.pool[original.relevant[0] as usize], "{}", q.id);
        }
        assert_eq!(task.sample(1000).pool.len(), 100, "a small enough task is kept whole");
    }
}
