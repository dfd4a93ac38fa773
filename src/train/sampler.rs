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
/// `groups[q]` is question `q`'s positive group ([`super::PairSet::positive_groups`]): questions
/// whose answer sentences coincide in some language. A batch never holds two questions of one
/// group, so no question's translation and no shared answer sentence can act as a negative
/// (a false negative). Questions are dealt from reshuffled decks; a card that would clash waits
/// for a later batch.
pub fn hybrid_schedule(groups: &[usize], langs: usize, batch_size: usize, alpha: f64, steps: usize, seed: u64) -> Vec<Batch> {
    let mut rng = SplitMix64::new(seed ^ 0x6879_6272_6964);
    deal(groups, langs, batch_size, steps, &mut rng, |_, rng| rng.next_f64() < alpha)
}

/// Validation batches, identical for every alpha and seed of a study so the checkpoint choice
/// never depends on the run's own batch mix: exactly half monolingual (even batches), half
/// cross-lingual, dealt with a constant seed.
pub fn validation_schedule(groups: &[usize], langs: usize, batch_size: usize, batches: usize) -> Vec<Batch> {
    let mut rng = SplitMix64::new(0x7661_6c69_6461_7465);
    deal(groups, langs, batch_size, batches, &mut rng, |step, _| step % 2 == 0)
}

/// Number of distinct groups: the most questions one batch can hold.
pub fn distinct_groups(groups: &[usize]) -> usize {
    groups.iter().collect::<std::collections::HashSet<_>>().len()
}

fn deal(
    groups: &[usize],
    langs: usize,
    batch_size: usize,
    steps: usize,
    rng: &mut SplitMix64,
    mut is_mono: impl FnMut(usize, &mut SplitMix64) -> bool,
) -> Vec<Batch> {
    assert!(langs >= 2 && batch_size >= 1 && distinct_groups(groups) >= batch_size, "checked by Prepared::check_batches");
    let mut deck: Vec<usize> = Vec::new();
    let mut out = Vec::with_capacity(steps);
    for step in 0..steps {
        let mut chosen = Vec::with_capacity(batch_size);
        let mut used = std::collections::HashSet::with_capacity(batch_size);
        let mut i = deck.len();
        while chosen.len() < batch_size {
            if i == 0 {
                // Every remaining card clashes: put a fresh deck under them and go on.
                let mut fresh: Vec<usize> = (0..groups.len()).collect();
                shuffle(&mut fresh, rng);
                i = fresh.len();
                fresh.extend_from_slice(&deck);
                deck = fresh;
            }
            i -= 1;
            if used.insert(groups[deck[i]]) {
                chosen.push(deck.remove(i));
            }
        }
        let mono = is_mono(step, rng);
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

    fn ids(n: usize) -> Vec<usize> {
        (0..n).collect()
    }

    #[test]
    fn realised_mono_share_tracks_alpha() {
        for alpha in [0.0, 0.25, 0.5, 0.75, 1.0] {
            let s = hybrid_schedule(&ids(200), 12, 16, alpha, 4000, 7);
            let share = s.iter().filter(|b| b.mono).count() as f64 / s.len() as f64;
            // 4000 Bernoulli draws: 3 standard deviations is at most 0.024.
            assert!((share - alpha).abs() < 0.025, "alpha {alpha}: mono share {share}");
        }
    }

    #[test]
    fn batches_obey_their_kind_and_never_repeat_a_question() {
        for b in hybrid_schedule(&ids(50), 12, 10, 0.5, 500, 3) {
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
        let s = hybrid_schedule(&ids(100), 12, 20, 0.5, 2000, 11);
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
        let (first, again) = (hybrid_schedule(&ids(80), 12, 8, 0.5, 100, 1), hybrid_schedule(&ids(80), 12, 8, 0.5, 100, 1));
        assert_eq!(first, again, "same seed, same batches");
        assert_ne!(hybrid_schedule(&ids(80), 12, 8, 0.5, 100, 1), hybrid_schedule(&ids(80), 12, 8, 0.5, 100, 2));
    }

    #[test]
    fn every_question_is_used_once_per_epoch() {
        let s = hybrid_schedule(&ids(40), 12, 8, 0.5, 5, 9);
        let seen: Vec<usize> = s.iter().flat_map(|b| b.pairs.iter().map(|p| p.question)).collect();
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 40);
    }

    #[test]
    fn no_group_twice_in_a_batch_and_every_question_still_dealt() {
        // 60 questions in 25 groups of 1-4 (shared answer sentences), batch 16.
        let groups: Vec<usize> = (0..60).map(|q| (q * 7 % 60) / 3 % 25).collect();
        let s = hybrid_schedule(&groups, 12, 16, 0.5, 300, 5);
        for b in &s {
            let g: HashSet<usize> = b.pairs.iter().map(|p| groups[p.question]).collect();
            assert_eq!(g.len(), b.pairs.len(), "two questions of one positive group in a batch");
        }
        let mut uses = vec![0usize; 60];
        for p in s.iter().flat_map(|b| &b.pairs) {
            uses[p.question] += 1;
        }
        let (lo, hi) = (uses.iter().min().unwrap(), uses.iter().max().unwrap());
        assert!(*lo > 0 && hi - lo <= 10, "questions dealt unevenly: {lo}..{hi}");
        assert_eq!(s, hybrid_schedule(&groups, 12, 16, 0.5, 300, 5));
    }

    #[test]
    fn validation_batches_are_half_mono_and_the_same_for_every_run() {
        let groups = ids(90);
        let v = validation_schedule(&groups, 12, 32, 8);
        assert_eq!(v.iter().filter(|b| b.mono).count(), 4);
        assert_eq!(v, validation_schedule(&groups, 12, 32, 8));
        assert!(v.iter().all(|b| b.pairs.len() == 32));
    }
}
