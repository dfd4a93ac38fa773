//! Statistics that can carry a claim about alpha: headline figures recomputed from per-question
//! tables under question weights, seed means, and paired bootstrap intervals (the same resampled
//! questions for every model, so question difficulty cancels out of a difference).

use serde::{Deserialize, Serialize};

use super::StudyError;
use crate::report::{Grid, QuestionTable};

/// Headline figures, in this order everywhere (JSON, tables).
pub const FIGURES: [&str; 9] =
    ["mono_map", "cross_map", "multi_map", "multi_r1", "multi_r10", "bias", "own_top", "worst_pair", "pair_std"];

/// Printable names of [`FIGURES`].
pub const FIGURE_LABELS: [&str; 9] =
    ["Mo. mAP", "Cr. mAP", "Mul. mAP", "Mul. R@1", "Mul. R@10", "bias", "own-language top", "worst pair Cr. mAP", "std Cr. mAP over pairs"];

pub type Figures = [f64; 9];

/// Index of a figure by name.
pub fn figure(name: &str) -> usize {
    FIGURES.iter().position(|f| *f == name).expect("a known figure name")
}

/// Weighted mean of one row over evaluated questions; NaN when no weighted question is evaluated.
fn row_mean(row: &[f32], w: &[u32]) -> f64 {
    let (mut s, mut n) = (0.0f64, 0u64);
    for (&v, &wq) in row.iter().zip(w) {
        if wq > 0 && v.is_finite() {
            s += v as f64 * wq as f64;
            n += wq as u64;
        }
    }
    if n == 0 {
        f64::NAN
    } else {
        s / n as f64
    }
}

fn mean(xs: &[f64]) -> f64 {
    let v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// A table's rows in one order: every mono/cross cell, then per query language the
/// multilingual-pool AP, R@1, R@10, bias and own-language top. What a figure is made of.
pub fn rows(t: &QuestionTable) -> impl Iterator<Item = &Vec<f32>> {
    t.cell_ap.iter().chain(&t.multi_ap).chain(&t.multi_r1).chain(&t.multi_r10).chain(&t.bias).chain(&t.own_top)
}

/// Number of [`rows`].
pub fn row_count(t: &QuestionTable) -> usize {
    t.cell_ap.len() + 5 * t.multi_ap.len()
}

/// Every headline figure from the means of a table's [`rows`] (NaN: not evaluated): mono and
/// cross are means over cells, the multilingual figures means over query languages, the pair
/// figures the worst cross cell and the spread of cross cells.
pub fn figures_of_rows(index: &crate::report::QuestionIndex, means: &[f64]) -> Figures {
    let cells = index.cells.len();
    let langs = (means.len() - cells) / 5;
    let (mut mono, mut cross) = (Vec::new(), Vec::new());
    for ((x, y), &m) in index.cells.iter().zip(means) {
        if x == y {
            mono.push(m);
        } else {
            cross.push(m);
        }
    }
    let cross_ok: Vec<f64> = cross.iter().copied().filter(|v| v.is_finite()).collect();
    let cross_mean = mean(&cross_ok);
    let worst = cross_ok.iter().copied().fold(f64::NAN, f64::min);
    let std = if cross_ok.is_empty() {
        f64::NAN
    } else {
        (cross_ok.iter().map(|v| (v - cross_mean).powi(2)).sum::<f64>() / cross_ok.len() as f64).sqrt()
    };
    let grid = |k: usize| mean(&means[cells + k * langs..cells + (k + 1) * langs]);
    [mean(&mono), cross_mean, grid(0), grid(1), grid(2), grid(3), grid(4), worst, std]
}

/// Every headline figure of a table under question weights `w` (all ones = the report's
/// macro averages: a mean over languages or pairs of per-cell means over questions).
pub fn figures(t: &QuestionTable, w: &[u32]) -> Figures {
    let means: Vec<f64> = rows(t).map(|r| row_mean(r, w)).collect();
    figures_of_rows(&t.index, &means)
}

/// Per-cell means (cross and mono cells, in the table's cell order) under weights `w`.
pub fn cell_means(t: &QuestionTable, w: &[u32]) -> Vec<f64> {
    t.cell_ap.iter().map(|r| row_mean(r, w)).collect()
}

/// Element-wise mean of tables of one task (the seeds of one alpha). The tables must index the
/// same questions, languages and cells.
pub fn mean_table(tables: &[&QuestionTable]) -> Result<QuestionTable, StudyError> {
    let first = tables.first().ok_or_else(|| StudyError::Data("no tables to average".into()))?;
    if let Some(t) = tables.iter().find(|t| t.index != first.index) {
        return Err(StudyError::Data(format!(
            "{}: per-question tables index different questions or cells; were they made from the same data?",
            t.index.task
        )));
    }
    let avg = |pick: fn(&QuestionTable) -> &Grid| -> Grid {
        let g0 = pick(first);
        (0..g0.len())
            .map(|r| {
                (0..g0[r].len())
                    .map(|q| tables.iter().map(|t| pick(t)[r][q]).sum::<f32>() / tables.len() as f32)
                    .collect()
            })
            .collect()
    };
    Ok(QuestionTable {
        index: first.index.clone(),
        cell_ap: avg(|t| &t.cell_ap),
        multi_ap: avg(|t| &t.multi_ap),
        multi_r1: avg(|t| &t.multi_r1),
        multi_r10: avg(|t| &t.multi_r10),
        bias: avg(|t| &t.bias),
        own_top: avg(|t| &t.own_top),
    })
}

/// A point estimate with its 95% percentile-bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub estimate: f64,
    pub lo: f64,
    pub hi: f64,
    /// Two-sided bootstrap p-value of "no difference" ([`super::bootstrap::sign_p`]); NaN
    /// where none was computed.
    #[serde(default = "nan")]
    pub p: f64,
}

fn nan() -> f64 {
    f64::NAN
}

impl Interval {
    /// The interval lies wholly on one side of zero.
    pub fn excludes_zero(&self) -> bool {
        self.lo > 0.0 || self.hi < 0.0
    }
}

/// Least-squares slope of `ys` against `xs` (NaN points skipped).
pub fn slope(xs: &[f64], ys: &[f64]) -> f64 {
    let pts: Vec<(f64, f64)> = xs.iter().zip(ys).filter(|(_, y)| y.is_finite()).map(|(&x, &y)| (x, y)).collect();
    if pts.len() < 2 {
        return f64::NAN;
    }
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / pts.len() as f64;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / pts.len() as f64;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return f64::NAN;
    }
    pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx
}

/// What [`paired_bootstrap`] returns: per contrast (a, b) the interval of figure(a) - figure(b)
/// for every figure; per figure the interval of its slope over the trend's x values.
pub struct Paired {
    pub contrasts: Vec<[Interval; 9]>,
    pub slopes: [Interval; 9],
}

/// Paired bootstrap over single questions of fixed models (one table each, e.g. the seed means
/// of each alpha): [`super::bootstrap::bootstrap`] without resampling seeds or clusters.
pub fn paired_bootstrap(
    models: &[QuestionTable],
    contrasts: &[(usize, usize)],
    trend: &[(usize, f64)],
    samples: usize,
    seed: u64,
) -> Result<Paired, StudyError> {
    let groups: Vec<Vec<&QuestionTable>> = models.iter().map(|t| vec![t]).collect();
    let how = super::bootstrap::Resampling { samples, seed, seeds: false, clusters: false };
    let r = super::bootstrap::bootstrap(&groups, contrasts, trend, &how)?;
    Ok(Paired { contrasts: r.contrasts, slopes: r.slopes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::QuestionIndex;

    /// Two languages, `n` questions; mono cells hold `mono`, cross cells `cross`, the
    /// multilingual rows `multi`, bias `bias`.
    fn table(n: usize, mono: &dyn Fn(usize) -> f32, cross: &dyn Fn(usize) -> f32, multi: f32, bias: f32) -> QuestionTable {
        let index = QuestionIndex {
            task: "t".into(),
            questions: (0..n).map(|q| format!("q{q}")).collect(),
            langs: vec!["de".into(), "en".into()],
            cells: vec![("de".into(), "de".into()), ("de".into(), "en".into()), ("en".into(), "de".into()), ("en".into(), "en".into())],
            ..Default::default()
        };
        let mut t = QuestionTable::new(index);
        for q in 0..n {
            t.cell_ap[0][q] = mono(q);
            t.cell_ap[3][q] = mono(q);
            t.cell_ap[1][q] = cross(q);
            t.cell_ap[2][q] = cross(q) * 0.5;
            for l in 0..2 {
                t.multi_ap[l][q] = multi;
                t.multi_r1[l][q] = (q % 2) as f32;
                t.multi_r10[l][q] = 1.0;
                t.bias[l][q] = bias;
                t.own_top[l][q] = 1.0;
            }
        }
        t
    }

    #[test]
    fn figures_are_macro_means_of_cell_means() {
        let t = table(4, &|q| q as f32 / 4.0, &|_| 0.4, 0.3, 10.0);
        let f = figures(&t, &[1, 1, 1, 1]);
        assert!((f[figure("mono_map")] - 0.375).abs() < 1e-6);
        assert!((f[figure("cross_map")] - 0.3).abs() < 1e-6, "mean of 0.4 and 0.2");
        assert!((f[figure("worst_pair")] - 0.2).abs() < 1e-6);
        assert!((f[figure("pair_std")] - 0.1).abs() < 1e-6);
        assert!((f[figure("multi_r1")] - 0.5).abs() < 1e-6);
        assert_eq!(f[figure("bias")], 10.0);
        // Weights: only question 3 counts.
        let g = figures(&t, &[0, 0, 0, 2]);
        assert!((g[figure("mono_map")] - 0.75).abs() < 1e-6);
        assert!(g[figure("multi_r1")] == 1.0);
    }

    #[test]
    fn paired_intervals_see_a_small_consistent_gain_and_not_noise() {
        // Model b = model a + 0.01 on every question, over wildly varying question difficulty:
        // the paired difference is exactly 0.01, though each model's own interval is wide.
        let n = 300;
        let hard = |q: usize| ((q * 7919) % 100) as f32 / 110.0;
        let a = table(n, &hard, &hard, 0.3, 50.0);
        let b = table(n, &|q| hard(q) + 0.01, &hard, 0.3, 40.0);
        let p = paired_bootstrap(&[a.clone(), b.clone()], &[(1, 0)], &[(0, 0.0), (1, 1.0)], 200, 9).unwrap();
        let mono = p.contrasts[0][figure("mono_map")];
        assert!((mono.estimate - 0.01).abs() < 1e-4 && mono.excludes_zero(), "{mono:?}");
        assert!(mono.hi - mono.lo < 1e-3, "paired: the question noise cancels {mono:?}");
        let cross = p.contrasts[0][figure("cross_map")];
        assert!(!cross.excludes_zero() && cross.estimate.abs() < 1e-9, "{cross:?}");
        let bias_slope = p.slopes[figure("bias")];
        assert!((bias_slope.estimate + 10.0).abs() < 1e-6 && bias_slope.excludes_zero());
        // Pure noise: b = a with questions relabelled: the paired interval must straddle zero.
        let shuffled = table(n, &|q| hard((q * 37) % n), &hard, 0.3, 50.0);
        let noise = paired_bootstrap(&[a, shuffled], &[(1, 0)], &[], 500, 4).unwrap();
        let relabelled = noise.contrasts[0][figure("mono_map")];
        assert!(relabelled.estimate.abs() < 1e-6 && !relabelled.excludes_zero(), "{relabelled:?}");
        assert!(relabelled.hi - relabelled.lo > 0.01, "unpaired noise shows as a wide interval {relabelled:?}");
    }

    #[test]
    fn seed_means_need_one_index() {
        let a = table(3, &|_| 0.2, &|_| 0.1, 0.3, 1.0);
        let b = table(3, &|_| 0.4, &|_| 0.3, 0.5, 3.0);
        let m = mean_table(&[&a, &b]).unwrap();
        assert!((m.cell_ap[0][1] - 0.3).abs() < 1e-6 && m.bias[1][2] == 2.0);
        let c = table(4, &|_| 0.2, &|_| 0.1, 0.3, 1.0);
        assert!(mean_table(&[&a, &c]).is_err());
        assert!(paired_bootstrap(std::slice::from_ref(&a), &[(0, 1)], &[], 10, 1).is_err(), "a contrast outside the models");
    }

    #[test]
    fn slope_of_a_line() {
        assert!((slope(&[0.0, 0.5, 1.0], &[1.0, 2.0, 3.0]) - 2.0).abs() < 1e-12);
        assert!(slope(&[1.0], &[1.0]).is_nan());
    }
}
