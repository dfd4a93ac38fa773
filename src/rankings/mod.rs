//! Exhaustive retrieval over normalised embeddings: blocked matrix products on a Burn device
//! (memory bounded by the block size), the rank of every relevant candidate in every setting,
//! and top-k lists. Ties are broken by candidate id in trec_eval's order (the higher id first),
//! so an exported run re-evaluated by trec_eval reproduces our ranks exactly.

#[cfg(not(target_arch = "wasm32"))]
mod cache;

#[cfg(not(target_arch = "wasm32"))]
pub use cache::{verify_file, CacheError, EmbeddingCache};

use burn::tensor::{Device, Tensor, TensorData};

/// Queries per matrix-product block: 512 x 21k candidates x 4 B = 43 MB of scores at most.
pub const BLOCK: usize = 512;

/// Where one relevant candidate landed for one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelevantRank {
    pub candidate: u32,
    /// 1-based rank in the whole multilingual pool.
    pub multi: usize,
    /// 1-based rank among candidates of its own language (the mono/cross setting of that pool).
    pub in_lang: usize,
}

/// What the scorer keeps per query.
#[derive(Debug, Clone, Default)]
pub struct QueryRanking {
    pub relevant: Vec<RelevantRank>,
    /// Top-k of the whole pool (candidate, score), best first; empty if k = 0.
    pub top_multi: Vec<(u32, f32)>,
    /// Top-k per pool language (indexed like `pool_langs`), only when requested.
    pub top_per_lang: Vec<Vec<(u32, f32)>>,
}

/// `a` (score, index) ranks above `b`.
#[inline]
fn beats(sa: f32, a: u32, sb: f32, b: u32) -> bool {
    sa > sb || (sa == sb && a > b)
}

fn top_k(scores: &[f32], members: impl Iterator<Item = u32>, k: usize) -> Vec<(u32, f32)> {
    if k <= 64 {
        // Small k: one pass keeping a sorted buffer; no per-row copy of the pool.
        let mut buf: Vec<(u32, f32)> = Vec::with_capacity(k + 1);
        for c in members {
            let s = scores[c as usize];
            if buf.len() == k {
                let &(lc, ls) = &buf[k - 1];
                if !beats(s, c, ls, lc) {
                    continue;
                }
                buf.pop();
            }
            let pos = buf.partition_point(|&(bc, bs)| beats(bs, bc, s, c));
            buf.insert(pos, (c, s));
        }
        return buf;
    }
    let mut v: Vec<(u32, f32)> = members.map(|c| (c, scores[c as usize])).collect();
    let cmp = |x: &(u32, f32), y: &(u32, f32)| y.1.total_cmp(&x.1).then(y.0.cmp(&x.0));
    if v.len() > k {
        v.select_nth_unstable_by(k, cmp);
        v.truncate(k);
    }
    v.sort_unstable_by(cmp);
    v
}

/// Ranks for one score row.
pub fn rank_row(
    scores: &[f32],
    relevant: &[u32],
    cand_lang: &[u16],
    n_langs: usize,
    k_multi: usize,
    k_per_lang: usize,
) -> QueryRanking {
    let mut multi = vec![1usize; relevant.len()];
    let mut in_lang = vec![1usize; relevant.len()];
    let rel: Vec<(u32, f32, u16)> =
        relevant.iter().map(|&r| (r, scores[r as usize], cand_lang[r as usize])).collect();
    if !rel.is_empty() {
        for (c, (&s, &l)) in scores.iter().zip(cand_lang).enumerate() {
            let c = c as u32;
            for (j, &(r, sr, lr)) in rel.iter().enumerate() {
                if beats(s, c, sr, r) {
                    multi[j] += 1;
                    if l == lr {
                        in_lang[j] += 1;
                    }
                }
            }
        }
    }
    let top_multi = if k_multi > 0 { top_k(scores, 0..scores.len() as u32, k_multi) } else { Vec::new() };
    let top_per_lang = if k_per_lang > 0 {
        (0..n_langs as u16)
            .map(|l| top_k(scores, (0..scores.len() as u32).filter(|&c| cand_lang[c as usize] == l), k_per_lang))
            .collect()
    } else {
        Vec::new()
    };
    QueryRanking {
        relevant: rel
            .iter()
            .zip(multi.iter().zip(&in_lang))
            .map(|(&(candidate, _, _), (&multi, &in_lang))| RelevantRank { candidate, multi, in_lang })
            .collect(),
        top_multi,
        top_per_lang,
    }
}

/// Scores every query against every candidate in blocks and ranks each row.
/// `queries`: `[n, dim]`, `pool`: `[m, dim]`, row-major, L2-normalised. `exclude[i]` (when
/// given) is a candidate query `i` must not see: itself, when the pool holds the queries.
#[allow(clippy::too_many_arguments)]
pub fn rank_all(
    queries: &[f32],
    pool: &[f32],
    dim: usize,
    relevant: &[Vec<u32>],
    exclude: &[Option<u32>],
    cand_lang: &[u16],
    n_langs: usize,
    k_multi: usize,
    k_per_lang: usize,
    device: &Device,
    mut progress: impl FnMut(usize),
) -> Result<Vec<QueryRanking>, String> {
    let n = queries.len() / dim;
    let m = pool.len() / dim;
    let pool_t: Tensor<2> = Tensor::from_data(TensorData::new(pool.to_vec(), [m, dim]), device).transpose();
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(BLOCK) {
        let rows = BLOCK.min(n - start);
        let q: Tensor<2> =
            Tensor::from_data(TensorData::new(queries[start * dim..(start + rows) * dim].to_vec(), [rows, dim]), device);
        // A failed read must not turn into an empty row that panics on indexing below.
        let mut scores: Vec<f32> = q
            .matmul(pool_t.clone())
            .try_into_data()
            .map_err(|e| format!("reading scores from the device failed: {e:?}"))?
            .try_into_vec()
            .map_err(|e| format!("scores are not f32: {e:?}"))?;
        if scores.len() != rows * m {
            return Err(format!("the device returned {} scores for a {rows} x {m} block", scores.len()));
        }
        for i in 0..rows {
            if let Some(c) = exclude.get(start + i).copied().flatten().filter(|&c| (c as usize) < m) {
                // Below every real score, and `beats` never lets it outrank a candidate.
                scores[i * m + c as usize] = f32::NEG_INFINITY;
            }
        }
        let rank = |i: usize| {
            rank_row(&scores[i * m..(i + 1) * m], &relevant[start + i], cand_lang, n_langs, k_multi, k_per_lang)
        };
        #[cfg(not(target_arch = "wasm32"))]
        {
            use rayon::prelude::*;
            let ranked: Vec<QueryRanking> = (0..rows).into_par_iter().map(rank).collect();
            out.extend(ranked);
        }
        #[cfg(target_arch = "wasm32")]
        out.extend((0..rows).map(rank));
        progress(rows);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_with_ties_follow_trec_eval_order() {
        // Candidates 0..4 in languages [0, 0, 1, 1]; scores with a tie between 1 and 2.
        let scores = [0.1, 0.5, 0.5, 0.9];
        let langs = [0u16, 0, 1, 1];
        let r = rank_row(&scores, &[1, 2], &langs, 2, 4, 2);
        // Tie: higher id (2) ranks first. Multi order: 3, 2, 1, 0.
        assert_eq!(r.top_multi.iter().map(|x| x.0).collect::<Vec<_>>(), vec![3, 2, 1, 0]);
        assert_eq!(r.relevant[0], RelevantRank { candidate: 1, multi: 3, in_lang: 1 });
        assert_eq!(r.relevant[1], RelevantRank { candidate: 2, multi: 2, in_lang: 2 });
        assert_eq!(r.top_per_lang[0].iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 0]);
        assert_eq!(r.top_per_lang[1].iter().map(|x| x.0).collect::<Vec<_>>(), vec![3, 2]);
    }

    #[test]
    fn an_excluded_candidate_never_outranks_anything() {
        let pool = [1.0f32, 0.0, 0.8, 0.6, 0.0, 1.0];
        let queries = [1.0f32, 0.0];
        let d = Device::flex();
        let plain = rank_all(&queries, &pool, 2, &[vec![1]], &[], &[0, 1, 1], 2, 3, 0, &d, |_| {}).unwrap();
        assert_eq!(plain[0].relevant[0].multi, 2, "candidate 0 (the query itself) ranks first");
        let r = rank_all(&queries, &pool, 2, &[vec![1]], &[Some(0)], &[0, 1, 1], 2, 3, 0, &d, |_| {}).unwrap();
        assert_eq!(r[0].relevant[0], RelevantRank { candidate: 1, multi: 1, in_lang: 1 });
        assert_eq!(r[0].top_multi.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 2, 0]);
    }

    #[test]
    fn small_and_large_k_paths_agree() {
        let scores: Vec<f32> = (0..500u32).map(|i| ((i * 7919) % 97) as f32 / 97.0).collect();
        let small = top_k(&scores, 0..500, 50);
        let large = top_k(&scores, 0..500, 100);
        assert_eq!(small, large[..50].to_vec());
        assert_eq!(top_k(&scores, 0..3, 10).len(), 3);
    }
}
