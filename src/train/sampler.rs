//! Hybrid batch sampling (Elmahdy et al., arXiv 2408.10536): each batch is monolingual with
//! probability alpha (one language for every query and positive) and otherwise cross-lingual
//! (each pair's query and positive languages drawn independently and different).

use crate::metrics::SplitMix64;

/// One (question, query language, positive language) triple; indices into a [`super::PairSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    pub question: usize,
    pub query_lang: usize,
    pub positive_lang: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub mono: bool,
    pub pairs: Vec<Pair>,
}

/// The whole batch schedule of a run, fixed by the seed before training starts, so a resumed run
/// sees exactly the batches the interrupted one would have.
///
/// Questions are dealt from a reshuffled deck each epoch and a batch never straddles two decks,
/// so no question (the same question in another language would be a false negative) appears
/// twice in a batch.
pub fn hybrid_schedule(
    questions: usize,
    langs: usize,
    batch_size: usize,
    alpha: f64,
    steps: usize,
    seed: u64,
) -> Vec<Batch> {
    assert!(langs >= 2 && batch_size >= 1 && questions >= batch_size, "checked by TrainConfig::validate");
    let mut rng = SplitMix64::new(seed ^ 0x6879_6272_6964);
    let mut deck: Vec<usize> = Vec::new();
    let mut out = Vec::with_capacity(steps);
    for _ in 0..steps {
        if deck.len() < batch_size {
            deck = (0..questions).collect();
            shuffle(&mut deck, &mut rng);
        }
        let chosen: Vec<usize> = deck.split_off(deck.len() - batch_size);
        let mono = rng.next_f64() < alpha;
        let lang = rng.below(langs);
        let pairs = chosen
            .into_iter()
            .map(|question| {
                if mono {
                    Pair { question, query_lang: lang, positive_lang: lang }
                } else {
                    let query_lang = rng.below(langs);
                    // Uniform over the other languages.
                    let mut positive_lang = rng.below(langs - 1);
                    if positive_lang >= query_lang {
                        positive_lang += 1;
                    }
                    Pair { question, query_lang, positive_lang }
                }
            })
            .collect();
        out.push(Batch { mono, pairs });
    }
    out
}

fn shuffle(v: &mut [usize], rng: &mut SplitMix64) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i + 1);
        v.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn realised_mono_share_tracks_alpha() {
        for alpha in [0.0, 0.25, 0.5, 0.75, 1.0] {
            let s = hybrid_schedule(200, 12, 16, alpha, 4000, 7);
            let share = s.iter().filter(|b| b.mono).count() as f64 / s.len() as f64;
            // 4000 Bernoulli draws: 3 standard deviations is at most 0.024.
            assert!((share - alpha).abs() < 0.025, "alpha {alpha}: mono share {share}");
        }
    }

    #[test]
    fn batches_obey_their_kind_and_never_repeat_a_question() {
        for b in hybrid_schedule(50, 12, 10, 0.5, 500, 3) {
            let qs: HashSet<usize> = b.pairs.iter().map(|p| p.question).collect();
            assert_eq!(qs.len(), b.pairs.len(), "a question twice in one batch");
            if b.mono {
                let l = b.pairs[0].query_lang;
                assert!(b.pairs.iter().all(|p| p.query_lang == l && p.positive_lang == l));
            } else {
                assert!(b.pairs.iter().all(|p| p.query_lang != p.positive_lang));
            }
        }
    }

    #[test]
    fn every_language_and_language_pair_is_covered() {
        let s = hybrid_schedule(100, 12, 20, 0.5, 2000, 11);
        let mono: HashSet<usize> = s.iter().filter(|b| b.mono).map(|b| b.pairs[0].query_lang).collect();
        assert_eq!(mono.len(), 12);
        let cross: HashSet<(usize, usize)> =
            s.iter().filter(|b| !b.mono).flat_map(|b| b.pairs.iter().map(|p| (p.query_lang, p.positive_lang))).collect();
        assert_eq!(cross.len(), 12 * 11, "every ordered pair of different languages");
        // Cross-lingual query languages are close to uniform.
        let mut counts = [0usize; 12];
        for b in s.iter().filter(|b| !b.mono) {
            for p in &b.pairs {
                counts[p.query_lang] += 1;
            }
        }
        let total: usize = counts.iter().sum();
        for c in counts {
            let share = c as f64 / total as f64;
            assert!((share - 1.0 / 12.0).abs() < 0.01, "query language share {share}");
        }
    }

    #[test]
    fn same_seed_same_batches_other_seed_other_batches() {
        assert_eq!(hybrid_schedule(80, 12, 8, 0.5, 100, 1), hybrid_schedule(80, 12, 8, 0.5, 100, 1));
        assert_ne!(hybrid_schedule(80, 12, 8, 0.5, 100, 1), hybrid_schedule(80, 12, 8, 0.5, 100, 2));
    }

    #[test]
    fn every_question_is_used_once_per_epoch() {
        let s = hybrid_schedule(40, 12, 8, 0.5, 5, 9);
        let seen: Vec<usize> = s.iter().flat_map(|b| b.pairs.iter().map(|p| p.question)).collect();
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 40);
    }
}
