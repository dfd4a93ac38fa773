//! Retrieval metrics exactly as docs/evaluation.md defines them. Every per-query metric is a
//! function of the 1-based ranks of the query's relevant candidates in the ranked pool, so the
//! scorer only reports those ranks. Pure code: also compiled into the web page.

use serde::{Deserialize, Serialize};

/// Per-query metrics; `recall10_trec` and `rr` are trec_eval's `recall_10` and `recip_rank`
/// (no min(k, R) denominator, no cut-off), kept for the oracle comparison.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct QueryMetrics {
    pub map: f64,
    pub map20: f64,
    pub r1: f64,
    pub r10: f64,
    pub ndcg10: f64,
    pub mrr10: f64,
    pub rr: f64,
    pub recall10_trec: f64,
}

/// Metrics from the ranks of all R relevant candidates (any order, each >= 1, distinct).
/// Returns None when R = 0: like trec_eval, a query without relevant candidates in the pool
/// is not evaluated (it would otherwise count as 0 or be undefined).
pub fn query_metrics(ranks: &[usize]) -> Option<QueryMetrics> {
    if ranks.is_empty() {
        return None;
    }
    let mut r: Vec<usize> = ranks.to_vec();
    r.sort_unstable();
    let big_r = r.len();
    let mut ap = 0.0;
    let mut ap20 = 0.0;
    for (i, &rank) in r.iter().enumerate() {
        let p = (i + 1) as f64 / rank as f64;
        ap += p;
        if rank <= 20 {
            ap20 += p;
        }
    }
    let within = |k: usize| r.iter().filter(|&&x| x <= k).count() as f64;
    let dcg: f64 = r.iter().filter(|&&x| x <= 10).map(|&x| 1.0 / ((x + 1) as f64).log2()).sum();
    let idcg: f64 = (1..=big_r.min(10)).map(|i| 1.0 / ((i + 1) as f64).log2()).sum();
    Some(QueryMetrics {
        map: ap / big_r as f64,
        map20: ap20 / big_r.min(20) as f64,
        r1: within(1) / big_r.min(1) as f64,
        r10: within(10) / big_r.min(10) as f64,
        ndcg10: dcg / idcg,
        mrr10: if r[0] <= 10 { 1.0 / r[0] as f64 } else { 0.0 },
        rr: 1.0 / r[0] as f64,
        recall10_trec: within(10) / big_r as f64,
    })
}

/// Mean of each metric over queries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub map: f64,
    pub map20: f64,
    pub r1: f64,
    pub r10: f64,
    pub ndcg10: f64,
    pub mrr10: f64,
}

impl Summary {
    pub fn of<'a>(items: impl IntoIterator<Item = &'a QueryMetrics>) -> Summary {
        let mut s = Summary::default();
        for m in items {
            s.n += 1;
            s.map += m.map;
            s.map20 += m.map20;
            s.r1 += m.r1;
            s.r10 += m.r10;
            s.ndcg10 += m.ndcg10;
            s.mrr10 += m.mrr10;
        }
        if s.n > 0 {
            let n = s.n as f64;
            s.map /= n;
            s.map20 /= n;
            s.r1 /= n;
            s.r10 /= n;
            s.ndcg10 /= n;
            s.mrr10 /= n;
        }
        s
    }

    /// Unweighted mean of summaries (macro average over languages or pairs).
    pub fn macro_mean(items: &[Summary]) -> Summary {
        let xs: Vec<&Summary> = items.iter().filter(|s| s.n > 0).collect();
        let k = xs.len().max(1) as f64;
        let mean = |f: fn(&Summary) -> f64| xs.iter().map(|s| f(s)).sum::<f64>() / k;
        Summary {
            n: xs.iter().map(|s| s.n).sum(),
            map: mean(|s| s.map),
            map20: mean(|s| s.map20),
            r1: mean(|s| s.r1),
            r10: mean(|s| s.r10),
            ndcg10: mean(|s| s.ndcg10),
            mrr10: mean(|s| s.mrr10),
        }
    }
}

/// How [`query_bias`] treats identical answer texts; recorded in a sweep's evaluation settings,
/// so reports computed under the earlier rule (ties broken by language code) are redone.
pub const BIAS_TIES: &str = "identical texts share one rank; a shared top counts 1/k";

/// Language bias of one query in the multilingual setting (after Huang et al. 2023), with
/// identical texts treated as one answer.
///
/// `answers` are the query's relevant candidates as (language, rank in the multilingual pool,
/// text). Candidates with the same text get the same vector and the same score, so their order
/// is decided by the tie-break (candidate id, i.e. the language code), not by the model: here
/// they share one rank, the best of them. Then, per language, the best rank; bias = max - min
/// over languages. The own-language top is 1 when the query's language alone holds the best
/// rank, 1/k when it shares it with k - 1 other languages (identical texts: the expected share
/// under a random tie-break), 0 otherwise, undefined when the query's language has no relevant
/// candidate. Nothing depends on the language codes.
pub fn query_bias<'a>(query_lang: &str, answers: impl IntoIterator<Item = (&'a str, usize, &'a str)>) -> Option<QueryBias> {
    let answers: Vec<(&str, usize, &str)> = answers.into_iter().collect();
    let mut by_text: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for &(_, rank, text) in &answers {
        let r = by_text.entry(text).or_insert(rank);
        *r = (*r).min(rank);
    }
    let best = best_rank_per_language(answers.iter().map(|&(lang, _, text)| (lang, by_text[text])));
    let max = best.iter().map(|&(_, r)| r).max()?;
    let min = best.iter().map(|&(_, r)| r).min()?;
    let top: Vec<&str> = best.iter().filter(|&&(_, r)| r == min).map(|&(l, _)| l).collect();
    let own = top.contains(&query_lang);
    let has_own = best.iter().any(|&(l, _)| l == query_lang);
    Some(QueryBias {
        bias: max - min,
        own_top: has_own.then(|| if own { 1.0 / top.len() as f64 } else { 0.0 }),
        tied_top: own && top.len() > 1,
        shared_own_answer: answers
            .iter()
            .filter(|a| a.0 == query_lang)
            .any(|own| answers.iter().any(|other| other.0 != query_lang && other.2 == own.2)),
    })
}

/// [`query_bias`] of one query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryBias {
    /// Best rank of the worst-served language minus that of the best-served one.
    pub bias: usize,
    /// Own-language top in [0, 1] (fractional when identical texts tie for the top); None when
    /// the query's language has no relevant candidate (parallel-question retrieval, whose
    /// relevant set excludes the query's own language): undefined, not 0.
    pub own_top: Option<f64>,
    /// The query's language shares the top with another language's identical text.
    pub tied_top: bool,
    /// An own-language answer's text is also another language's answer (a name, a number).
    pub shared_own_answer: bool,
}

/// For each language, the best (lowest) rank among `ranked`'s (language, rank) pairs, in
/// language order.
pub fn best_rank_per_language<'a>(ranked: impl IntoIterator<Item = (&'a str, usize)>) -> Vec<(&'a str, usize)> {
    let mut best: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for (lang, rank) in ranked {
        let r = best.entry(lang).or_insert(rank);
        *r = (*r).min(rank);
    }
    best.into_iter().collect()
}

/// One question asked in several languages, and where each language's correct answers landed
/// in the multilingual pool: rows = query languages, columns = answer languages, cell = the best
/// rank of a correct answer in that language (`None`: the question has none in it). Each row's
/// spread is the question's [`query_bias`] for that query language; a model biased towards
/// the query's language shows small numbers on the diagonal and large ones elsewhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LanguageMatrix {
    pub query_langs: Vec<String>,
    pub answer_langs: Vec<String>,
    pub ranks: Vec<Vec<Option<usize>>>,
}

impl LanguageMatrix {
    /// The matrix of `rows` (query language, its relevant candidates as (language, rank)); the
    /// columns are every answer language seen, sorted.
    pub fn new<'a>(rows: impl IntoIterator<Item = (String, Vec<(&'a str, usize)>)>) -> LanguageMatrix {
        let rows: Vec<(String, Vec<(&str, usize)>)> = rows.into_iter().map(|(q, r)| (q, best_rank_per_language(r))).collect();
        let answer_langs: Vec<String> =
            rows.iter().flat_map(|(_, r)| r.iter().map(|(l, _)| l.to_string())).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        let ranks = rows
            .iter()
            .map(|(_, best)| answer_langs.iter().map(|a| best.iter().find(|(l, _)| l == a).map(|&(_, r)| r)).collect())
            .collect();
        LanguageMatrix { query_langs: rows.into_iter().map(|(q, _)| q).collect(), answer_langs, ranks }
    }

    fn own(&self, row: usize) -> Option<usize> {
        let col = self.answer_langs.iter().position(|a| *a == self.query_langs[row])?;
        self.ranks[row][col]
    }

    /// (rows whose own-language answer ranks first of all languages' answers, rows that have
    /// an own-language answer). A first place shared with k - 1 other languages (identical
    /// texts share a rank) counts 1/k, as in [`query_bias`].
    pub fn own_language_first(&self) -> (f64, usize) {
        let mut first = 0.0;
        let mut with_own = 0;
        for (i, row) in self.ranks.iter().enumerate() {
            if let Some(own) = self.own(i) {
                with_own += 1;
                if row.iter().flatten().all(|&r| own <= r) {
                    first += 1.0 / row.iter().flatten().filter(|&&r| r == own).count() as f64;
                }
            }
        }
        (first, with_own)
    }

    /// Median rank of the own-language cells (the diagonal) and of all other cells.
    pub fn median_ranks(&self) -> (Option<f64>, Option<f64>) {
        let mut own = Vec::new();
        let mut other = Vec::new();
        for (i, row) in self.ranks.iter().enumerate() {
            for (j, cell) in row.iter().enumerate() {
                if let Some(r) = cell {
                    if self.answer_langs[j] == self.query_langs[i] { own.push(*r as f64) } else { other.push(*r as f64) }
                }
            }
        }
        (median(own), median(other))
    }

    /// Mean over rows of the row's spread (max - min rank): the question's language bias.
    pub fn mean_bias(&self) -> Option<f64> {
        let spreads: Vec<f64> = self
            .ranks
            .iter()
            .filter_map(|row| {
                let present: Vec<usize> = row.iter().flatten().copied().collect();
                Some((present.iter().max()? - present.iter().min()?) as f64)
            })
            .collect();
        (!spreads.is_empty()).then(|| spreads.iter().sum::<f64>() / spreads.len() as f64)
    }
}

/// A count that may hold shares of ties ([`LanguageMatrix::own_language_first`]): "3", "2.5".
pub fn count_text(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// Robustness of a cross-lingual matrix of one metric (entries for X != Y).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Robustness {
    pub worst_pair: (String, String, f64),
    pub best_pair: (String, String, f64),
    pub spread: f64,
    pub std: f64,
    pub cross_mean: f64,
    pub mono_mean: f64,
    /// Cr./Mo.: how much of monolingual quality survives across languages.
    pub cross_over_mono: f64,
}

pub fn robustness(cross: &[(String, String, f64)], mono_mean: f64) -> Option<Robustness> {
    let worst = cross.iter().min_by(|a, b| a.2.total_cmp(&b.2))?;
    let best = cross.iter().max_by(|a, b| a.2.total_cmp(&b.2))?;
    let n = cross.len() as f64;
    let mean = cross.iter().map(|c| c.2).sum::<f64>() / n;
    let var = cross.iter().map(|c| (c.2 - mean).powi(2)).sum::<f64>() / n;
    Some(Robustness {
        worst_pair: worst.clone(),
        best_pair: best.clone(),
        spread: best.2 - worst.2,
        std: var.sqrt(),
        cross_mean: mean,
        mono_mean,
        cross_over_mono: if mono_mean > 0.0 { mean / mono_mean } else { 0.0 },
    })
}

/// A seeded SplitMix64: tiny, portable (same numbers in wasm), good enough for resampling.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_f64() * n as f64) as usize
    }
}

/// 95% percentile-bootstrap interval of a macro average over cells (languages or pairs), each
/// cell a list of (question index, value). Questions are resampled jointly across cells, so the
/// language versions of one question stay together.
pub fn bootstrap_macro_ci(cells: &[Vec<(usize, f64)>], n_questions: usize, samples: usize, seed: u64) -> Option<(f64, f64)> {
    if n_questions == 0 || samples == 0 || cells.iter().all(Vec::is_empty) {
        return None;
    }
    let mut rng = SplitMix64::new(seed);
    let mut weight = vec![0u32; n_questions];
    let mut stats = Vec::with_capacity(samples);
    for _ in 0..samples {
        weight.iter_mut().for_each(|w| *w = 0);
        for _ in 0..n_questions {
            weight[rng.below(n_questions)] += 1;
        }
        let mut total = 0.0;
        let mut k = 0usize;
        for cell in cells {
            let (mut s, mut w) = (0.0, 0u64);
            for &(q, v) in cell {
                let wq = weight[q] as u64;
                s += v * wq as f64;
                w += wq;
            }
            if w > 0 {
                total += s / w as f64;
                k += 1;
            }
        }
        if k > 0 {
            stats.push(total / k as f64);
        }
    }
    percentile_interval(stats)
}

/// The 2.5% and 97.5% percentiles of bootstrap statistics (nearest rank); None when there are
/// none (every resample missed every evaluated question).
pub fn percentile_interval(mut stats: Vec<f64>) -> Option<(f64, f64)> {
    let last = stats.len().checked_sub(1)?;
    stats.sort_by(f64::total_cmp);
    let at = |p: f64| stats[(last as f64 * p).round() as usize];
    Some((at(0.025), at(0.975)))
}

/// Mean pairwise overlap of top-10 lists of one question's language versions (consistency).
pub fn top10_consistency(lists: &[Vec<u32>]) -> Option<f64> {
    if lists.len() < 2 {
        return None;
    }
    let mut total = 0.0;
    let mut pairs = 0;
    for i in 0..lists.len() {
        for j in i + 1..lists.len() {
            let inter = lists[i].iter().filter(|c| lists[j].contains(c)).count();
            let denom = lists[i].len().max(lists[j].len()).max(1);
            total += inter as f64 / denom as f64;
            pairs += 1;
        }
    }
    Some(total / pairs as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }

    #[test]
    fn single_relevant_at_rank_3() {
        let m = query_metrics(&[3]).unwrap();
        close(m.map, 1.0 / 3.0);
        close(m.map20, 1.0 / 3.0);
        close(m.r1, 0.0);
        close(m.r10, 1.0);
        close(m.ndcg10, 1.0 / 4f64.log2());
        close(m.mrr10, 1.0 / 3.0);
    }

    #[test]
    fn multi_relevant_hand_computed() {
        // Relevant at ranks 1, 4, 12 (R = 3).
        let m = query_metrics(&[12, 1, 4]).unwrap();
        close(m.map, (1.0 + 2.0 / 4.0 + 3.0 / 12.0) / 3.0);
        close(m.r1, 1.0); // 1 of min(1, 3) = 1
        close(m.r10, 2.0 / 3.0);
        close(m.recall10_trec, 2.0 / 3.0);
        let idcg = 1.0 + 1.0 / 3f64.log2() + 1.0 / 4f64.log2();
        close(m.ndcg10, (1.0 + 1.0 / 5f64.log2()) / idcg);
        close(m.mrr10, 1.0);
    }

    #[test]
    fn recall_denominators_differ_from_trec_when_r_exceeds_k() {
        // 11 relevant (XQuAD-R), ranks 1..=11: R@10 = 10/min(10,11) = 1, trec recall_10 = 10/11.
        let ranks: Vec<usize> = (1..=11).collect();
        let m = query_metrics(&ranks).unwrap();
        close(m.r10, 1.0);
        close(m.recall10_trec, 10.0 / 11.0);
        close(m.map, 1.0);
        close(m.ndcg10, 1.0);
    }

    #[test]
    fn map20_uses_min_r_20_denominator() {
        // 25 relevant at ranks 1..=25: mAP = 1; mAP@20 = 20/min(25,20) = 1.
        let ranks: Vec<usize> = (1..=25).collect();
        close(query_metrics(&ranks).unwrap().map20, 1.0);
        // One relevant at rank 30: mAP = 1/30, mAP@20 = 0, MRR@10 = 0, RR = 1/30.
        let m = query_metrics(&[30]).unwrap();
        close(m.map, 1.0 / 30.0);
        close(m.map20, 0.0);
        close(m.mrr10, 0.0);
        close(m.rr, 1.0 / 30.0);
    }

    #[test]
    fn no_relevant_is_not_evaluated() {
        assert!(query_metrics(&[]).is_none());
    }

    #[test]
    fn bias_and_own_language() {
        let b = query_bias("en", [("de", 5, "a"), ("en", 1, "b"), ("de", 2, "c"), ("ar", 40, "d")]).unwrap();
        assert_eq!((b.bias, b.own_top, b.tied_top, b.shared_own_answer), (39, Some(1.0), false, false));
        let de = query_bias("de", [("de", 5, "a"), ("en", 1, "b"), ("de", 2, "c"), ("ar", 40, "d")]).unwrap();
        assert_eq!((de.bias, de.own_top), (39, Some(0.0)));
        let fr = query_bias("fr", [("de", 5, "a"), ("en", 1, "b")]).unwrap();
        assert_eq!((fr.bias, fr.own_top), (4, None), "no French answer: the own-language top is undefined");
        assert_eq!(query_bias("en", [("en", 3, "x")]).unwrap().bias, 0);
        assert!(query_bias("en", std::iter::empty()).is_none());
    }

    /// MKQA: "1969" is the answer in several languages. Ranked by candidate id, the tied copies
    /// come out in language-code order; the figures must not depend on which code sorts first.
    #[test]
    fn identical_answer_texts_share_a_rank_whatever_their_language_codes() {
        // The query's language (here "xa" or "zz") and "mm" both answer "1969"; the tie-break
        // put one copy at rank 2 and the other at 3. A third language answers "nineteen" at 9.
        for (own, other) in [("xa", "mm"), ("zz", "mm")] {
            for (own_rank, other_rank) in [(2, 3), (3, 2)] {
                let b = query_bias(own, [(own, own_rank, "1969"), (other, other_rank, "1969"), ("ll", 9, "nineteen")]).unwrap();
                assert_eq!(b.bias, 7, "9 - 2, whichever copy came first ({own} at {own_rank})");
                assert_eq!(b.own_top, Some(0.5), "a tie of two languages is half a win ({own} at {own_rank})");
                assert!(b.tied_top && b.shared_own_answer);
            }
        }
        // The old rule (the language at the better of the two tied ranks takes the top) gave 1 or
        // 0 by code order; here the own language wins only with a better text of its own.
        let outright = query_bias("xa", [("xa", 1, "Apollo 11"), ("xa", 4, "1969"), ("mm", 3, "1969")]).unwrap();
        assert_eq!((outright.bias, outright.own_top, outright.tied_top), (2, Some(1.0), false));
        assert!(outright.shared_own_answer);
        // All twelve languages share one string: no language is preferred.
        let langs = ["ar", "da", "de", "en", "es", "fi", "fr", "ja", "ko", "ms", "sv", "tr"];
        let all: Vec<(&str, usize, &str)> = langs.iter().enumerate().map(|(i, l)| (*l, 5 + i, "Paris")).collect();
        let b = query_bias("tr", all).unwrap();
        assert_eq!(b.bias, 0);
        assert!((b.own_top.unwrap() - 1.0 / 12.0).abs() < 1e-12);
    }

    #[test]
    fn language_matrix_of_a_biased_and_a_fair_model() {
        // Biased: each query language finds its own answer first, the other far below.
        let biased = LanguageMatrix::new([
            ("en".to_string(), vec![("en", 1), ("de", 40), ("de", 7)]),
            ("de".to_string(), vec![("en", 30), ("de", 2)]),
            ("fr".to_string(), vec![("en", 3), ("de", 5)]),
        ]);
        assert_eq!(biased.answer_langs, ["de", "en"]);
        assert_eq!(biased.ranks, [[Some(7), Some(1)], [Some(2), Some(30)], [Some(5), Some(3)]]);
        assert_eq!(biased.own_language_first(), (2.0, 2), "fr has no own-language answer: not counted");
        assert_eq!(biased.median_ranks(), (Some(1.5), Some(6.0)));
        close(biased.mean_bias().unwrap(), (6.0 + 28.0 + 2.0) / 3.0);
        let fair = LanguageMatrix::new([
            ("en".to_string(), vec![("en", 2), ("de", 1)]),
            ("de".to_string(), vec![("en", 1), ("de", 1)]),
        ]);
        assert_eq!(fair.own_language_first(), (0.5, 2), "a tie of two counts half; rank 2 behind rank 1 does not count");
        // A language without a correct answer is an empty cell, not rank 0.
        let gap = LanguageMatrix::new([("en".to_string(), vec![("en", 4)]), ("de".to_string(), vec![("de", 9)])]);
        assert_eq!(gap.ranks, [[None, Some(4)], [Some(9), None]]);
        assert_eq!(gap.median_ranks(), (Some(6.5), None));
        close(gap.mean_bias().unwrap(), 0.0);
        assert_eq!(LanguageMatrix::new(Vec::<(String, Vec<(&str, usize)>)>::new()).mean_bias(), None);
    }

    #[test]
    fn robustness_of_a_matrix() {
        let m = vec![("a".into(), "b".into(), 0.5), ("b".into(), "a".into(), 0.3)];
        let r = robustness(&m, 0.8).unwrap();
        assert_eq!(r.worst_pair.2, 0.3);
        close(r.spread, 0.2);
        close(r.std, 0.1);
        close(r.cross_over_mono, 0.4 / 0.8);
    }

    #[test]
    fn bootstrap_is_deterministic_and_brackets_the_mean() {
        let cells = vec![(0..100).map(|q| (q, (q % 10) as f64 / 10.0)).collect::<Vec<_>>()];
        let a = bootstrap_macro_ci(&cells, 100, 500, 7).unwrap();
        let b = bootstrap_macro_ci(&cells, 100, 500, 7).unwrap();
        assert_eq!(a, b);
        assert!(a.0 < 0.45 && a.1 > 0.45 && a.1 - a.0 < 0.2, "{a:?}");
    }

    #[test]
    fn bootstrap_that_no_resample_hits_gives_no_interval() {
        // One evaluated question out of 10,000: one resample almost surely misses it, which
        // used to underflow `stats.len() - 1`.
        let cells = vec![vec![(0usize, 0.5)]];
        assert_eq!(bootstrap_macro_ci(&cells, 10_000, 1, 3), None);
        assert_eq!(percentile_interval(Vec::new()), None);
        assert_eq!(percentile_interval(vec![0.3]), Some((0.3, 0.3)));
        let one = bootstrap_macro_ci(&[vec![(0, 0.25), (1, 0.75)]], 2, 1, 5).unwrap();
        assert!(one.0 == one.1 && (0.25..=0.75).contains(&one.0));
    }

    #[test]
    fn consistency_overlap() {
        close(top10_consistency(&[vec![1, 2], vec![2, 1]]).unwrap(), 1.0);
        close(top10_consistency(&[vec![1, 2], vec![2, 3], vec![4, 5]]).unwrap(), (0.5 + 0.0 + 0.0) / 3.0);
    }
}
