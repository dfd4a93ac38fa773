//! From embeddings to a task report: rank, score every setting, aggregate, bootstrap.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use burn::tensor::Device;

use super::{Bias, Macro, QuestionIndex, QuestionTable, TaskReport, Timings, TrecFiles};
use crate::metrics::{self, QueryMetrics, Summary};
use crate::rankings;
use crate::tasks::Task;

/// Languages of the training pairs (XQuAD's 12); MKQA's `zh_cn` is Chinese, seen.
pub const SEEN_LANGS: [&str; 13] = ["ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh", "zh_cn"];

#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Export TREC files.
    pub trec: bool,
    /// Run depth per query in exported runs; 0 = the whole pool (exact trec_eval map).
    pub trec_depth: usize,
    pub bootstrap_samples: usize,
    pub seed: u64,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions { trec: false, trec_depth: 1000, bootstrap_samples: 1000, seed: 1 }
    }
}

/// Per query language, the sums the report's [`Bias`] is made of.
#[derive(Default)]
struct BiasSum {
    bias: f64,
    own: f64,
    /// Queries whose language has a relevant candidate (where the own-language top is defined).
    with_own: usize,
    queries: usize,
    tied_top: usize,
    shared_answer: usize,
}

fn now() -> f64 {
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
    }
    #[cfg(target_arch = "wasm32")]
    {
        0.0
    }
}

/// Evaluates one task given its query and pool embeddings (row-major, L2-normalised): the
/// report, the TREC files (when asked for) and the per-question table paired statistics use.
pub fn evaluate_task(
    task: &Task,
    queries: &[f32],
    pool: &[f32],
    dim: usize,
    device: &Device,
    opts: &EvalOptions,
    progress: impl FnMut(usize),
) -> Result<(TaskReport, TrecFiles, QuestionTable), String> {
    let t0 = now();
    let pool_langs: Vec<String> = task.pool.iter().map(|c| c.lang.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let lang_ix: HashMap<&str, u16> = pool_langs.iter().enumerate().map(|(i, l)| (l.as_str(), i as u16)).collect();
    let cand_lang: Vec<u16> = task.pool.iter().map(|c| lang_ix[c.lang.as_str()]).collect();
    let depth = if opts.trec_depth == 0 { task.pool.len() } else { opts.trec_depth };
    let k_multi = if opts.trec { depth } else if !task.labelled { 10 } else { 0 };
    let k_per_lang = if opts.trec { depth } else { 0 };
    let relevant: Vec<Vec<u32>> = task.queries.iter().map(|q| q.relevant.clone()).collect();
    let exclude: Vec<Option<u32>> = if task.pool_is_queries {
        let own: HashMap<(&str, &str), u32> =
            task.pool.iter().enumerate().map(|(i, c)| ((c.lang.as_str(), c.text.as_str()), i as u32)).collect();
        task.queries.iter().map(|q| own.get(&(q.lang.as_str(), q.text.as_str())).copied()).collect()
    } else {
        Vec::new()
    };
    let ranked = rankings::rank_all(
        queries, pool, dim, &relevant, &exclude, &cand_lang, pool_langs.len(), k_multi, k_per_lang, device, progress,
    )?;
    let t_score = now();

    let qid_ix: HashMap<&str, usize> = {
        let mut m = HashMap::new();
        for q in &task.queries {
            let n = m.len();
            m.entry(q.qid.as_str()).or_insert(n);
        }
        m
    };
    // (X, Y) -> [(question index, metrics)]; Y = "*" is the multilingual pool.
    let mut cells: BTreeMap<(String, String), Vec<(usize, QueryMetrics)>> = BTreeMap::new();
    let mut bias_sum: BTreeMap<String, BiasSum> = BTreeMap::new();
    let mut trec = TrecFiles::default();
    let mut top10: HashMap<usize, Vec<Vec<u32>>> = HashMap::new();
    // (query language, question index) -> (bias, own language on top)
    let mut per_query_bias: HashMap<(&str, usize), (f64, f64)> = HashMap::new();
    for (q, r) in task.queries.iter().zip(&ranked) {
        let qi = qid_ix[q.qid.as_str()];
        if !task.labelled {
            top10.entry(qi).or_default().push(r.top_multi.iter().take(10).map(|x| x.0).collect());
            continue;
        }
        let multi_ranks: Vec<usize> = r.relevant.iter().map(|x| x.multi).collect();
        let Some(m) = metrics::query_metrics(&multi_ranks) else { continue };
        cells.entry((q.lang.clone(), "*".into())).or_default().push((qi, m));
        if opts.trec {
            let ranked: Vec<(String, f32)> =
                r.top_multi.iter().map(|&(c, s)| (task.pool[c as usize].id.clone(), s)).collect();
            let rel: Vec<&str> = r.relevant.iter().map(|x| task.pool[x.candidate as usize].id.as_str()).collect();
            trec.add(&format!("{}.multi.{}", task.kind.name(), q.lang), &q.id, &ranked, &rel, &m);
        }
        let answers = r.relevant.iter().map(|x| {
            let c = &task.pool[x.candidate as usize];
            (c.lang.as_str(), x.multi, c.text.as_str())
        });
        if let Some(b) = metrics::query_bias(&q.lang, answers) {
            let e = bias_sum.entry(q.lang.clone()).or_default();
            e.bias += b.bias as f64;
            if let Some(own) = b.own_top {
                e.own += own;
                e.with_own += 1;
            }
            e.queries += 1;
            e.tied_top += usize::from(b.tied_top);
            e.shared_answer += usize::from(b.shared_own_answer);
            per_query_bias.insert((q.lang.as_str(), qi), (b.bias as f64, b.own_top.unwrap_or(f64::NAN)));
        }
        for (li, lang) in pool_langs.iter().enumerate() {
            let ranks: Vec<usize> = r
                .relevant
                .iter()
                .filter(|x| cand_lang[x.candidate as usize] as usize == li)
                .map(|x| x.in_lang)
                .collect();
            let Some(m) = metrics::query_metrics(&ranks) else { continue };
            cells.entry((q.lang.clone(), lang.clone())).or_default().push((qi, m));
            if opts.trec {
                let setting = if *lang == q.lang { format!("mono.{lang}") } else { format!("cross.{}-{lang}", q.lang) };
                let ranked: Vec<(String, f32)> =
                    r.top_per_lang[li].iter().map(|&(c, s)| (task.pool[c as usize].id.clone(), s)).collect();
                let rel: Vec<&str> = r
                    .relevant
                    .iter()
                    .filter(|x| cand_lang[x.candidate as usize] as usize == li)
                    .map(|x| task.pool[x.candidate as usize].id.as_str())
                    .collect();
                trec.add(&format!("{}.{setting}", task.kind.name()), &q.id, &ranked, &rel, &m);
            }
        }
    }

    let summary = |v: &Vec<(usize, QueryMetrics)>| Summary::of(v.iter().map(|x| &x.1));
    let mut report = TaskReport {
        task: task.kind.name().into(),
        langs: task.langs.clone(),
        counts: crate::tasks::counts(task),
        labelled: task.labelled,
        data: task.checksums.clone(),
        ..Default::default()
    };
    let (mut mono_cells, mut cross_cells, mut multi_cells) = (Vec::new(), Vec::new(), Vec::new());
    let mut cross_list = Vec::new();
    for ((x, y), v) in &cells {
        let s = summary(v);
        let maps: Vec<(usize, f64)> = v.iter().map(|(q, m)| (*q, m.map)).collect();
        if y == "*" {
            report.multi.insert(x.clone(), s);
            multi_cells.push(maps);
        } else if x == y {
            report.mono.insert(x.clone(), s);
            mono_cells.push(maps);
        } else {
            report.cross.entry(x.clone()).or_default().insert(y.clone(), s);
            cross_list.push((x.clone(), y.clone(), s.map));
            cross_cells.push(maps);
        }
    }
    let n_q = qid_ix.len();
    let ci = |c: &[Vec<(usize, f64)>], salt: u64| {
        metrics::bootstrap_macro_ci(c, n_q, opts.bootstrap_samples, opts.seed.wrapping_mul(31).wrapping_add(salt))
    };
    let mono: Vec<Summary> = report.mono.values().copied().collect();
    let cross: Vec<Summary> = report.cross.values().flat_map(|m| m.values().copied()).collect();
    let multi: Vec<Summary> = report.multi.values().copied().collect();
    report.macro_avg = Macro {
        mono: Summary::macro_mean(&mono),
        cross: Summary::macro_mean(&cross),
        multi: Summary::macro_mean(&multi),
        mono_map_ci95: ci(&mono_cells, 1),
        cross_map_ci95: ci(&cross_cells, 2),
        multi_map_ci95: ci(&multi_cells, 3),
    };
    report.robustness = metrics::robustness(&cross_list, report.macro_avg.mono.map);
    if task.kind == crate::tasks::TaskKind::Mkqa {
        let seen = |l: &str| SEEN_LANGS.contains(&l);
        let mut groups: BTreeMap<String, (f64, usize)> = BTreeMap::new();
        for (x, y, v) in &cross_list {
            let key = format!("{}-{}", if seen(x) { "seen" } else { "unseen" }, if seen(y) { "seen" } else { "unseen" });
            let e = groups.entry(key).or_insert((0.0, 0));
            e.0 += v;
            e.1 += 1;
        }
        report.seen_unseen = groups.into_iter().map(|(k, (s, n))| (k, s / n as f64)).collect();
    }
    let mut bias = Bias::default();
    for (x, s) in &bias_sum {
        bias.per_lang.insert(x.clone(), s.bias / s.queries as f64);
        if s.with_own > 0 {
            bias.own_language.insert(x.clone(), s.own / s.with_own as f64);
        }
        bias.tied_top.insert(x.clone(), s.tied_top);
        bias.shared_answer.insert(x.clone(), s.shared_answer);
    }
    bias.mean = if bias.per_lang.is_empty() { 0.0 } else { bias.per_lang.values().sum::<f64>() / bias.per_lang.len() as f64 };
    report.bias = bias;
    if !task.labelled {
        let vals: Vec<f64> = top10.values().filter_map(|l| metrics::top10_consistency(l)).collect();
        report.consistency = (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64);
    }
    report.timings = Timings { score_s: t_score - t0, metrics_s: now() - t_score, ..Default::default() };
    let questions = question_table(task, &qid_ix, &cells, &per_query_bias);
    Ok((report, trec, questions))
}

/// Every evaluated (question, cell) value, for paired comparisons between models.
fn question_table(
    task: &Task,
    qid_ix: &HashMap<&str, usize>,
    cells: &BTreeMap<(String, String), Vec<(usize, QueryMetrics)>>,
    bias: &HashMap<(&str, usize), (f64, f64)>,
) -> QuestionTable {
    let mut questions = vec![String::new(); qid_ix.len()];
    for (qid, &i) in qid_ix {
        questions[i] = qid.to_string();
    }
    let langs: Vec<String> = task.queries.iter().map(|q| q.lang.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let pairs: Vec<(String, String)> = cells.keys().filter(|(_, y)| y != "*").cloned().collect();
    // Questions the task puts in no cluster (none do) get one of their own.
    let clusters = if task.clusters.is_empty() {
        Vec::new()
    } else {
        let mut next = task.clusters.values().max().map_or(0, |m| m + 1);
        questions
            .iter()
            .map(|q| {
                task.clusters.get(q).copied().unwrap_or_else(|| {
                    next += 1;
                    next - 1
                })
            })
            .collect()
    };
    let mut t = QuestionTable::new(QuestionIndex { task: task.kind.name().into(), questions, langs, cells: pairs, clusters });
    let lang_row: HashMap<&str, usize> = t.index.langs.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
    let mut cell_row = 0;
    for ((x, y), v) in cells {
        if y == "*" {
            let row = lang_row[x.as_str()];
            for &(q, m) in v {
                t.multi_ap[row][q] = m.map as f32;
                t.multi_r1[row][q] = m.r1 as f32;
                t.multi_r10[row][q] = m.r10 as f32;
            }
        } else {
            for &(q, m) in v {
                t.cell_ap[cell_row][q] = m.map as f32;
            }
            cell_row += 1;
        }
    }
    for (&(lang, q), &(b, own)) in bias {
        let row = lang_row[lang];
        t.bias[row][q] = b as f32;
        t.own_top[row][q] = own as f32;
    }
    t
}
