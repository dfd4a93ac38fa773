//! The study's bootstrap: paired, and two-level. Each resample draws, for every alpha, its
//! seeds with replacement (training noise: "train again with another seed"), then one set of
//! question weights shared by every model (paired: question difficulty cancels out of a
//! difference), either single questions or whole clusters of them (XQuAD-R and MLQA-R questions
//! share articles, so an article is the independent unit).
//!
//! A resample's figure of an alpha is the figure of its drawn seeds' mean row means (a row: one
//! mono/cross cell, or one query language's multilingual-pool values). The row means of every
//! table under a block of resamples are dot products of the table's rows with the block's weight
//! vectors, so the cost is one pass over the tables per block.

use serde::Serialize;

use super::stats::{figures_of_rows, row_count, rows, slope, Figures, Interval};
use super::StudyError;
use crate::metrics::{percentile_interval, SplitMix64};
use crate::report::QuestionTable;

/// How a bootstrap resamples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Resampling {
    pub samples: usize,
    pub seed: u64,
    /// Draw each alpha's seeds with replacement (else every seed is kept, once).
    pub seeds: bool,
    /// Draw whole clusters (articles) where the tables have them (else single questions).
    pub clusters: bool,
}

impl Resampling {
    /// The headline scheme: seeds and clusters resampled.
    pub fn full(samples: usize, seed: u64) -> Self {
        Resampling { samples, seed, seeds: true, clusters: true }
    }
}

/// Intervals of each contrast and slope, with the resampled differences the claims test.
pub struct Resampled {
    pub contrasts: Vec<[Interval; 9]>,
    pub slopes: [Interval; 9],
    /// Per contrast and figure, the resampled differences (finite ones).
    pub contrast_samples: Vec<[Vec<f32>; 9]>,
}

/// One table's rows, ready for dot products with weight vectors.
struct Prepared {
    /// Row-major `[rows, questions]`, not-evaluated values as 0.
    values: Vec<f32>,
    /// Per row, 1 where evaluated, 0 where not; None when every question is evaluated.
    masks: Vec<Option<Vec<f32>>>,
}

fn prepare(t: &QuestionTable) -> Prepared {
    let n = t.index.questions.len();
    let mut values = Vec::with_capacity(row_count(t) * n);
    let mut masks = Vec::new();
    for row in rows(t) {
        values.extend(row.iter().map(|v| if v.is_finite() { *v } else { 0.0 }));
        masks.push(row.iter().any(|v| !v.is_finite()).then(|| row.iter().map(|v| f32::from(u8::from(v.is_finite()))).collect()));
    }
    Prepared { values, masks }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Row means of one table under each weight vector of a block: `[block][row]`.
fn block_means(p: &Prepared, weights: &[Vec<f32>], totals: &[f32], n: usize) -> Vec<Vec<f64>> {
    let rows = p.masks.len();
    let mut out = vec![vec![f64::NAN; rows]; weights.len()];
    for (r, row) in p.values.chunks_exact(n.max(1)).take(rows).enumerate() {
        for (b, w) in weights.iter().enumerate() {
            let denominator = match &p.masks[r] {
                Some(m) => dot(m, w),
                None => totals[b],
            };
            if denominator > 0.0 {
                out[b][r] = dot(row, w) as f64 / denominator as f64;
            }
        }
    }
    out
}

#[cfg(not(target_arch = "wasm32"))]
fn map_tables<T: Send>(tables: &[Prepared], f: impl Fn(&Prepared) -> T + Sync + Send) -> Vec<T> {
    use rayon::prelude::*;
    tables.par_iter().map(f).collect()
}

#[cfg(target_arch = "wasm32")]
fn map_tables<T>(tables: &[Prepared], f: impl Fn(&Prepared) -> T) -> Vec<T> {
    tables.iter().map(f).collect()
}

/// Mean over the drawn seeds (`counts[s]` draws of seed `s`) of their row means, skipping a
/// seed's row where it is undefined.
fn group_rows(seed_rows: &[&Vec<f64>], counts: &[u32]) -> Vec<f64> {
    let rows = seed_rows.first().map_or(0, |r| r.len());
    (0..rows)
        .map(|r| {
            let (mut s, mut k) = (0.0, 0u32);
            for (row, &c) in seed_rows.iter().zip(counts) {
                if c > 0 && row[r].is_finite() {
                    s += row[r] * c as f64;
                    k += c;
                }
            }
            if k == 0 {
                f64::NAN
            } else {
                s / k as f64
            }
        })
        .collect()
}

/// Two-sided p-value of "the difference is zero" from its resamples: twice the smaller share on
/// either side of zero (an interval excludes zero at 95% exactly when this is below 0.05, up to
/// the percentile rounding).
pub fn sign_p(samples: &[f32]) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let below = samples.iter().filter(|&&x| x <= 0.0).count();
    let above = samples.iter().filter(|&&x| x >= 0.0).count();
    (2.0 * below.min(above) as f64 / samples.len() as f64).min(1.0)
}

/// Share of resamples at or below `threshold` (one-sided p of "the difference exceeds it").
pub fn share_at_most(samples: &[f32], threshold: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.iter().filter(|&&x| (x as f64) <= threshold).count() as f64 / samples.len() as f64
}

/// Share of resamples at or above `threshold`.
pub fn share_at_least(samples: &[f32], threshold: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.iter().filter(|&&x| (x as f64) >= threshold).count() as f64 / samples.len() as f64
}

fn interval(estimate: f64, samples: &[f32]) -> Interval {
    let (lo, hi) = if estimate.is_finite() {
        percentile_interval(samples.iter().map(|&x| x as f64).collect()).unwrap_or((f64::NAN, f64::NAN))
    } else {
        (f64::NAN, f64::NAN)
    };
    Interval { estimate, lo, hi, p: if estimate.is_finite() { sign_p(samples) } else { f64::NAN } }
}

/// Resamples `groups` (per alpha, or the base: the tables of its seeds; every table over the
/// same questions and cells) and returns the intervals of figure(a) - figure(b) for each
/// contrast (a, b) of group indices, and of each figure's least-squares slope over `trend`'s
/// (group, x) points.
pub fn bootstrap(groups: &[Vec<&QuestionTable>], contrasts: &[(usize, usize)], trend: &[(usize, f64)], how: &Resampling) -> Result<Resampled, StudyError> {
    let first = groups.iter().flatten().next().ok_or_else(|| StudyError::Data("the bootstrap needs at least one table".into()))?;
    let index = &first.index;
    let n = index.questions.len();
    if n == 0 || how.samples == 0 {
        return Err(StudyError::Data("the bootstrap needs questions and at least one resample".into()));
    }
    if groups.iter().any(|g| g.is_empty()) {
        return Err(StudyError::Data("a bootstrap group has no tables".into()));
    }
    if let Some(t) = groups.iter().flatten().find(|t| t.index != *index) {
        return Err(StudyError::Data(format!("{}: per-question tables over different questions or cells cannot be paired", t.index.task)));
    }
    if contrasts.iter().any(|&(a, b)| a.max(b) >= groups.len()) || trend.iter().any(|&(g, _)| g >= groups.len()) {
        return Err(StudyError::Data("a contrast names a model that is not there".into()));
    }
    // Sampling units: clusters of question indices.
    let units: Vec<Vec<usize>> = if how.clusters && !index.clusters.is_empty() {
        let mut by: std::collections::BTreeMap<u32, Vec<usize>> = std::collections::BTreeMap::new();
        for (q, &c) in index.clusters.iter().enumerate() {
            by.entry(c).or_default().push(q);
        }
        by.into_values().collect()
    } else {
        (0..n).map(|q| vec![q]).collect()
    };
    let tables: Vec<Prepared> = groups.iter().flatten().map(|t| prepare(t)).collect();
    let offsets: Vec<usize> = groups.iter().scan(0, |o, g| {
        let start = *o;
        *o += g.len();
        Some(start)
    }).collect();
    let xs: Vec<f64> = trend.iter().map(|t| t.1).collect();
    let summarise = |figs: &[Figures]| -> (Vec<Figures>, Figures) {
        let diffs = contrasts.iter().map(|&(a, b)| std::array::from_fn(|f| figs[a][f] - figs[b][f])).collect();
        let slopes = std::array::from_fn(|f| slope(&xs, &trend.iter().map(|&(g, _)| figs[g][f]).collect::<Vec<_>>()));
        (diffs, slopes)
    };
    let figures_of = |means: &[&Vec<f64>], counts: &[Vec<u32>]| -> Vec<Figures> {
        groups
            .iter()
            .enumerate()
            .map(|(g, members)| {
                let seed_rows: Vec<&Vec<f64>> = (0..members.len()).map(|s| means[offsets[g] + s]).collect();
                figures_of_rows(index, &group_rows(&seed_rows, &counts[g]))
            })
            .collect()
    };
    // Point estimates: every question once, every seed once.
    let ones = vec![vec![1f32; n]];
    let point_means: Vec<Vec<f64>> = map_tables(&tables, |p| block_means(p, &ones, &[n as f32], n).remove(0));
    let all_once: Vec<Vec<u32>> = groups.iter().map(|g| vec![1; g.len()]).collect();
    let (point_diffs, point_slopes) = summarise(&figures_of(&point_means.iter().collect::<Vec<_>>(), &all_once));

    let mut diff_samples: Vec<[Vec<f32>; 9]> = vec![std::array::from_fn(|_| Vec::with_capacity(how.samples)); contrasts.len()];
    let mut slope_samples: [Vec<f32>; 9] = std::array::from_fn(|_| Vec::with_capacity(how.samples));
    let mut rng = SplitMix64::new(how.seed);
    const BLOCK: usize = 64;
    let mut done = 0;
    while done < how.samples {
        let size = BLOCK.min(how.samples - done);
        let mut weights = vec![vec![0f32; n]; size];
        let mut counts: Vec<Vec<Vec<u32>>> = Vec::with_capacity(size);
        for w in weights.iter_mut() {
            for _ in 0..units.len() {
                for &q in &units[rng.below(units.len())] {
                    w[q] += 1.0;
                }
            }
            counts.push(
                groups
                    .iter()
                    .map(|g| {
                        let mut c = vec![0u32; g.len()];
                        if how.seeds {
                            for _ in 0..g.len() {
                                c[rng.below(g.len())] += 1;
                            }
                        } else {
                            c.iter_mut().for_each(|x| *x = 1);
                        }
                        c
                    })
                    .collect(),
            );
        }
        let totals: Vec<f32> = weights.iter().map(|w| w.iter().sum()).collect();
        let means: Vec<Vec<Vec<f64>>> = map_tables(&tables, |p| block_means(p, &weights, &totals, n));
        for b in 0..size {
            let per_table: Vec<&Vec<f64>> = means.iter().map(|m| &m[b]).collect();
            let (diffs, slopes) = summarise(&figures_of(&per_table, &counts[b]));
            for (c, d) in diffs.iter().enumerate() {
                for f in 0..9 {
                    if d[f].is_finite() {
                        diff_samples[c][f].push(d[f] as f32);
                    }
                }
            }
            for f in 0..9 {
                if slopes[f].is_finite() {
                    slope_samples[f].push(slopes[f] as f32);
                }
            }
        }
        done += size;
    }
    Ok(Resampled {
        contrasts: point_diffs.iter().zip(&diff_samples).map(|(d, s)| std::array::from_fn(|f| interval(d[f], &s[f]))).collect(),
        slopes: std::array::from_fn(|f| interval(point_slopes[f], &slope_samples[f])),
        contrast_samples: diff_samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::QuestionIndex;
    use crate::study::stats::figure;

    /// One language pair, `n` questions in clusters of `cluster` questions; every value of the
    /// mono cell is `mono(q)`.
    fn table(n: usize, cluster: usize, mono: &dyn Fn(usize) -> f32) -> QuestionTable {
        let index = QuestionIndex {
            task: "t".into(),
            questions: (0..n).map(|q| format!("q{q}")).collect(),
            langs: vec!["de".into(), "en".into()],
            cells: vec![("de".into(), "de".into()), ("de".into(), "en".into()), ("en".into(), "de".into()), ("en".into(), "en".into())],
            clusters: (0..n).map(|q| (q / cluster) as u32).collect(),
        };
        let mut t = QuestionTable::new(index);
        for q in 0..n {
            for r in 0..4 {
                t.cell_ap[r][q] = mono(q);
            }
            for l in 0..2 {
                t.multi_ap[l][q] = 0.5;
                t.multi_r1[l][q] = 1.0;
                t.multi_r10[l][q] = 1.0;
                t.bias[l][q] = 1.0;
                t.own_top[l][q] = 1.0;
            }
        }
        t
    }

    /// Two alphas, three seeds each. Alpha b beats a by 0.01 on every question with seed 1 and
    /// loses by 0.01 with seeds 2 and 3: over the fixed seeds' mean the difference is a
    /// precise -0.0033; with the seeds resampled, a draw of seed 1 three times flips it, so the
    /// interval must include zero.
    #[test]
    fn resampling_seeds_widens_a_difference_that_is_training_noise() {
        let hard = |q: usize| ((q * 7919) % 100) as f32 / 200.0;
        let b: Vec<QuestionTable> = [0.01f32, -0.01, -0.01].iter().map(|&d| table(200, 1, &move |q| hard(q) + 0.3 + d)).collect();
        let a0: Vec<QuestionTable> = (0..3).map(|_| table(200, 1, &|q| hard(q) + 0.3)).collect();
        let groups = vec![a0.iter().collect::<Vec<_>>(), b.iter().collect::<Vec<_>>()];
        let fixed = bootstrap(&groups, &[(1, 0)], &[], &Resampling { samples: 2000, seed: 3, seeds: false, clusters: false }).unwrap();
        let mono = fixed.contrasts[0][figure("mono_map")];
        assert!(mono.excludes_zero() && (mono.estimate + 0.01 / 3.0).abs() < 1e-5, "fixed seeds: {mono:?}");
        let seeded = bootstrap(&groups, &[(1, 0)], &[], &Resampling { samples: 2000, seed: 3, seeds: true, clusters: false }).unwrap();
        let mono = seeded.contrasts[0][figure("mono_map")];
        assert!(!mono.excludes_zero() && mono.p > 0.05, "seeds resampled: {mono:?}");
        assert!(mono.lo <= -0.0099 && mono.hi >= 0.0099, "the interval spans the seeds' spread: {mono:?}");
    }

    /// Questions in clusters of 20 that share their whole difference: resampling questions
    /// treats 400 questions as independent, resampling clusters sees 20 units, so its interval
    /// is wider (about sqrt(20) times).
    #[test]
    fn resampling_clusters_widens_intervals_of_correlated_questions() {
        let n = 400;
        let a = table(n, 20, &|_| 0.5);
        let b = table(n, 20, &|q| 0.5 + if (q / 20) % 2 == 0 { 0.02 } else { -0.01 });
        let groups = vec![vec![&a], vec![&b]];
        let width = |clusters| {
            let r = bootstrap(&groups, &[(1, 0)], &[], &Resampling { samples: 3000, seed: 5, seeds: false, clusters }).unwrap();
            let iv = r.contrasts[0][figure("mono_map")];
            assert!((iv.estimate - 0.005).abs() < 1e-6, "{iv:?}");
            iv.hi - iv.lo
        };
        let (questions, clusters) = (width(false), width(true));
        assert!(clusters > 3.0 * questions, "clusters {clusters} vs questions {questions}");
    }

    #[test]
    fn the_same_seed_gives_the_same_intervals_and_bad_input_is_refused() {
        let a = table(50, 5, &|q| q as f32 / 60.0);
        let b = table(50, 5, &|q| q as f32 / 50.0);
        let groups = vec![vec![&a], vec![&b]];
        let how = Resampling::full(300, 11);
        let x = bootstrap(&groups, &[(1, 0)], &[(0, 0.0), (1, 1.0)], &how).unwrap();
        let y = bootstrap(&groups, &[(1, 0)], &[(0, 0.0), (1, 1.0)], &how).unwrap();
        assert_eq!(x.contrasts, y.contrasts);
        assert_eq!(x.slopes, y.slopes);
        assert!(bootstrap(&groups, &[(0, 2)], &[], &how).is_err());
        let c = table(40, 5, &|_| 0.1);
        assert!(bootstrap(&[vec![&a], vec![&c]], &[(1, 0)], &[], &how).is_err(), "different questions");
        assert!(bootstrap(&[vec![&a], vec![]], &[(1, 0)], &[], &how).is_err(), "an empty group");
    }

    #[test]
    fn sign_p_of_clear_and_straddling_samples() {
        assert_eq!(sign_p(&[1.0, 2.0, 3.0]), 0.0);
        assert_eq!(sign_p(&[-1.0, 1.0]), 1.0);
        assert!((sign_p(&[-1.0, 1.0, 2.0, 3.0]) - 0.5).abs() < 1e-12);
        assert!(sign_p(&[]).is_nan());
        assert_eq!(share_at_most(&[0.1, 0.2, 0.3, 0.4], 0.25), 0.5);
        assert_eq!(share_at_least(&[0.1, 0.2, 0.3, 0.4], 0.3), 0.5);
    }
}
