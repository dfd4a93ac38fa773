//! The paper's claims (Elmahdy et al., arXiv 2408.10536), each decided from the paired
//! intervals of a [`TaskStudy`]: "reproduced" needs the intervals to exclude zero in the
//! claimed direction, "not reproduced" needs them to exclude it in the other, anything else is
//! "inconclusive". Hybrid = the alpha nearest 0.5; X-X = the largest alpha, X-Y the smallest.

use serde::Serialize;

use super::{Interval, TaskStudy};

/// A difference smaller than this (1 mAP point) counts as "no worse" / "stable".
pub const MARGIN: f64 = 0.01;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Reproduced,
    NotReproduced,
    Inconclusive,
    /// The grid lacks the alphas the claim needs.
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
}

#[derive(Debug, Clone, Serialize)]
pub struct Claim {
    pub claim: &'static str,
    pub task: String,
    pub verdict: Verdict,
    /// The intervals the verdict rests on, in words.
    pub evidence: String,
}

/// Sign of an interval: +1 above zero, -1 below, 0 straddling.
fn sign(iv: &Interval) -> i8 {
    if iv.lo > 0.0 {
        1
    } else if iv.hi < 0.0 {
        -1
    } else {
        0
    }
}

fn describe(a: &str, b: &str, fig: &str, iv: &Interval) -> String {
    let scale = if fig == "bias" { 1.0 } else { 100.0 };
    format!("{fig} {a} vs {b}: {:+.2} [{:+.2}, {:+.2}]", scale * iv.estimate, scale * iv.lo, scale * iv.hi)
}

/// Every claim on one task.
pub fn claims(t: &TaskStudy) -> Vec<Claim> {
    let alphas: Vec<f64> = t.alphas.iter().map(|a| a.alpha).collect();
    let claim = |text: &'static str, verdict: Verdict, evidence: String| Claim { claim: text, task: t.task.clone(), verdict, evidence };
    let texts = [
        "Hybrid batches give the best multilingual-pool retrieval (Mul. mAP)",
        "Hybrid batches reduce language bias compared with monolingual-only (X-X) training",
        "X-X training does well only in monolingual retrieval (best Mo., worse Mul. than hybrid)",
        "X-Y training does well only in cross-lingual retrieval (better Cr., worse Mo. than X-X)",
        "Optimising one setting costs the other (X-X vs X-Y: Mo. up, Cr. down)",
        "Hybrid serves mono and cross at once (Mo. no worse than X-X, Cr. no worse than X-Y, margin 1 point)",
        "Results are stable around alpha = 0.5 (neighbouring alphas within 1 Mul. mAP point)",
    ];
    if alphas.len() < 3 {
        return texts.iter().map(|c| claim(c, Verdict::NotTested, "needs at least three alphas".into())).collect();
    }
    let lo = alphas[0].to_string();
    let hi = alphas[alphas.len() - 1].to_string();
    let mid = alphas.iter().copied().min_by(|a, b| (a - 0.5).abs().total_cmp(&(b - 0.5).abs())).unwrap_or(0.5).to_string();
    // a - b, from the (a, b) contrast or the negated (b, a) one.
    let get = |a: &str, b: &str, fig: &str| -> Option<Interval> {
        let find = |x: &str, y: &str| t.contrasts.iter().find(|c| c.a == x && c.b == y).and_then(|c| c.figures.get(fig).copied());
        find(a, b).or_else(|| find(b, a).map(|iv| Interval { estimate: -iv.estimate, lo: -iv.hi, hi: -iv.lo, p: iv.p }))
    };
    let mut out = Vec::new();
    let mut push = |i: usize, parts: Vec<(&str, &str, &str)>, decide: &dyn Fn(&[Interval]) -> Verdict| {
        let ivs: Option<Vec<Interval>> = parts.iter().map(|(a, b, f)| get(a, b, f)).collect();
        match ivs {
            Some(ivs) if ivs.iter().all(|iv| iv.lo.is_finite() && iv.hi.is_finite()) => {
                let evidence = parts.iter().zip(&ivs).map(|((a, b, f), iv)| describe(a, b, f, iv)).collect::<Vec<_>>().join("; ");
                out.push(claim(texts[i], decide(&ivs), evidence));
            }
            Some(ivs) => {
                let missing: Vec<&str> = parts.iter().zip(&ivs).filter(|(_, iv)| !iv.estimate.is_finite()).map(|((_, _, f), _)| *f).collect();
                out.push(claim(texts[i], Verdict::NotTested, format!("the task has no {}", missing.join(", "))));
            }
            None => out.push(claim(texts[i], Verdict::NotTested, "the grid lacks the alphas it needs".into())),
        }
    };
    let both = |want: [i8; 2]| {
        move |ivs: &[Interval]| -> Verdict {
            let s = [sign(&ivs[0]), sign(&ivs[1])];
            if s == want {
                Verdict::Reproduced
            } else if s.iter().zip(want).any(|(g, w)| *g == -w) {
                Verdict::NotReproduced
            } else {
                Verdict::Inconclusive
            }
        }
    };
    push(0, vec![(&mid, &lo, "multi_map"), (&mid, &hi, "multi_map")], &both([1, 1]));
    push(1, vec![(&mid, &hi, "bias")], &|ivs| match sign(&ivs[0]) {
        -1 => Verdict::Reproduced,
        1 => Verdict::NotReproduced,
        _ => Verdict::Inconclusive,
    });
    push(2, vec![(&hi, &lo, "mono_map"), (&mid, &hi, "multi_map")], &both([1, 1]));
    push(3, vec![(&lo, &hi, "cross_map"), (&lo, &hi, "mono_map")], &both([1, -1]));
    push(4, vec![(&hi, &lo, "mono_map"), (&hi, &lo, "cross_map")], &|ivs| {
        let s = [sign(&ivs[0]), sign(&ivs[1])];
        if s == [1, -1] {
            Verdict::Reproduced
        } else if s[0] != 0 && s[0] == s[1] {
            Verdict::NotReproduced
        } else {
            Verdict::Inconclusive
        }
    });
    push(5, vec![(&mid, &hi, "mono_map"), (&mid, &lo, "cross_map")], &|ivs| {
        if ivs.iter().all(|iv| iv.lo > -MARGIN) {
            Verdict::Reproduced
        } else if ivs.iter().any(|iv| iv.hi < -MARGIN) {
            Verdict::NotReproduced
        } else {
            Verdict::Inconclusive
        }
    });
    let mid_ix = alphas.iter().position(|a| a.to_string() == mid).unwrap_or(0);
    let neighbours: Vec<String> = [mid_ix.checked_sub(1), Some(mid_ix + 1)]
        .into_iter()
        .flatten()
        .filter(|&i| i < alphas.len() && i != mid_ix)
        .map(|i| alphas[i].to_string())
        .collect();
    let parts: Vec<(&str, &str, &str)> = neighbours.iter().map(|n| (n.as_str(), mid.as_str(), "multi_map")).collect();
    push(6, parts, &|ivs| {
        if ivs.iter().all(|iv| iv.lo > -MARGIN && iv.hi < MARGIN) {
            Verdict::Reproduced
        } else if ivs.iter().any(|iv| iv.lo > MARGIN || iv.hi < -MARGIN) {
            Verdict::NotReproduced
        } else {
            Verdict::Inconclusive
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::{AlphaSummary, Contrast};
    use std::collections::BTreeMap;

    fn study(contrasts: Vec<(&str, &str, &str, f64, f64)>) -> TaskStudy {
        let alpha = |a: f64| AlphaSummary { alpha: a, seeds: vec![1], mean: BTreeMap::new(), sd: BTreeMap::new(), per_seed: BTreeMap::new() };
        let mut cs: Vec<Contrast> = Vec::new();
        for (a, b, f, lo, hi) in contrasts {
            let iv = Interval { estimate: (lo + hi) / 2.0, lo, hi, p: f64::NAN };
            match cs.iter_mut().find(|c| c.a == a && c.b == b) {
                Some(c) => {
                    c.figures.insert(f.into(), iv);
                }
                None => cs.push(Contrast { a: a.into(), b: b.into(), figures: BTreeMap::from([(f.to_string(), iv)]) }),
            }
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
        }
    }

    #[test]
    fn verdicts_follow_the_intervals() {
        let t = study(vec![
            ("0.5", "0", "multi_map", 0.01, 0.03),
            ("0.5", "1", "multi_map", -0.01, 0.02),
            ("0.5", "1", "bias", -40.0, -10.0),
            ("1", "0", "mono_map", -0.03, -0.01),
            ("1", "0", "cross_map", -0.02, -0.01),
        ]);
        let c = claims(&t);
        assert_eq!(c[0].verdict, Verdict::Inconclusive, "{}", c[0].evidence);
        assert_eq!(c[1].verdict, Verdict::Reproduced);
        assert_eq!(c[2].verdict, Verdict::NotReproduced, "alpha 1 is significantly worse on Mo.");
        assert_eq!(c[4].verdict, Verdict::NotReproduced, "one end wins both settings");
        // From the 1 vs 0 contrasts, negated: alpha 0 is better on Cr. and on Mo. too.
        assert_eq!(c[3].verdict, Verdict::NotReproduced, "{}", c[3].evidence);
        assert!(c[3].evidence.contains("cross_map 0 vs 1: +1.50 [+1.00, +2.00]"), "{}", c[3].evidence);
        assert!(c[1].evidence.contains("bias 0.5 vs 1: -25.00 [-40.00, -10.00]"), "{}", c[1].evidence);
    }

    #[test]
    fn stability_needs_both_neighbours_inside_the_margin() {
        let t = study(vec![("0.25", "0.5", "multi_map", -0.004, 0.003), ("0.75", "0.5", "multi_map", -0.006, 0.002)]);
        assert_eq!(claims(&t)[6].verdict, Verdict::Reproduced);
        let t = study(vec![("0.25", "0.5", "multi_map", -0.004, 0.003), ("0.75", "0.5", "multi_map", -0.03, -0.012)]);
        assert_eq!(claims(&t)[6].verdict, Verdict::NotReproduced);
    }
}
