//! Training pairs: XQuAD questions with the sentence that contains their answer, 12 languages,
//! from the training articles only (docs/evaluation.md: article `i` with `i % 3 == 2` is held
//! out for evaluation).

use std::path::Path;

use crate::sources::{self, FileChecksum, SquadRLang};
use crate::tasks::is_heldout_article;

use super::TrainError;

/// One question in every language: `texts[l]` = (question, answer sentence) in `langs[l]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainQuestion {
    pub qid: String,
    /// Article index in file order (the unit of the held-out split).
    pub article: usize,
    pub texts: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PairSet {
    pub langs: Vec<String>,
    pub questions: Vec<TrainQuestion>,
}

impl PairSet {
    pub fn len(&self) -> usize {
        self.questions.len()
    }
    pub fn is_empty(&self) -> bool {
        self.questions.is_empty()
    }
    pub fn articles(&self) -> Vec<usize> {
        let mut a: Vec<usize> = self.questions.iter().map(|q| q.article).collect();
        a.dedup();
        a
    }

    /// Questions of the articles `keep` accepts.
    pub fn filter_articles(&self, keep: impl Fn(usize) -> bool) -> PairSet {
        PairSet { langs: self.langs.clone(), questions: self.questions.iter().filter(|q| keep(q.article)).cloned().collect() }
    }

    /// Positive group of every question: questions whose answer sentence is the same text in
    /// some language share a group (connected components), so a batch that takes at most one
    /// question per group never shows a query its own positive as a negative. In XQuAD 451 of
    /// the 816 training questions share their sentence with another question.
    pub fn positive_groups(&self) -> Vec<usize> {
        let n = self.questions.len();
        let mut parent: Vec<usize> = (0..n).collect();
        fn root(parent: &mut [usize], mut x: usize) -> usize {
            while parent[x] != x {
                parent[x] = parent[parent[x]];
                x = parent[x];
            }
            x
        }
        let mut owner: std::collections::HashMap<(usize, &str), usize> = std::collections::HashMap::new();
        for (q, tq) in self.questions.iter().enumerate() {
            for (l, (_, sentence)) in tq.texts.iter().enumerate() {
                let first = *owner.entry((l, sentence.as_str())).or_insert(q);
                let (a, b) = (root(&mut parent, first), root(&mut parent, q));
                parent[a.max(b)] = a.min(b);
            }
        }
        let mut ids = std::collections::HashMap::new();
        (0..n)
            .map(|q| {
                let r = root(&mut parent, q);
                let next = ids.len();
                *ids.entry(r).or_insert(next)
            })
            .collect()
    }

    /// `n` questions for tiny runs (tests, smoke checks): in file order, one per positive group
    /// first (so a small batch can still be filled without a false negative), then the rest.
    pub fn truncate(self, n: usize) -> PairSet {
        let groups = self.positive_groups();
        let mut seen = std::collections::HashSet::new();
        let first: Vec<usize> = (0..self.len()).filter(|&q| seen.insert(groups[q])).collect();
        let rest = (0..self.len()).filter(|q| !first.contains(q));
        let mut keep: Vec<usize> = first.iter().copied().chain(rest).take(n).collect();
        keep.sort_unstable();
        let PairSet { langs, questions } = self;
        let mut questions: Vec<Option<TrainQuestion>> = questions.into_iter().map(Some).collect();
        PairSet { langs, questions: keep.into_iter().filter_map(|q| questions[q].take()).collect() }
    }
}

/// XQuAD's 12 languages with sentences: XQuAD-R's segmentation where XQuAD-R has the language
/// (11 of 12), [`sources::segment_sentences`] for the rest (Romanian).
pub fn read_training_files(data: &Path) -> Result<(Vec<SquadRLang>, Vec<FileChecksum>), TrainError> {
    let plain = sources::read_squad_r_dir(&data.join("xquad"), false)?;
    let segmented = sources::read_squad_r_dir(&data.join("xquad-r"), true)?;
    let mut files = Vec::new();
    for mut f in plain {
        match segmented.iter().find(|s| s.lang == f.lang) {
            Some(s) => files.push(s.clone()),
            None => {
                sources::segment_sentences(&mut f);
                files.push(f);
            }
        }
    }
    let checksums = sources::verify_checksums(data, &["xquad/", "xquad-r/"])?;
    Ok((files, checksums))
}

/// Pairs from the training articles of parallel SQuAD-R files (XQuAD-R: the XQuAD questions and
/// contexts, split into sentences). Questions lacking an answer sentence in any language are
/// dropped, so every question can be paired in every language combination.
pub fn training_pairs(files: &[SquadRLang]) -> Result<PairSet, TrainError> {
    let Some(first) = files.first() else {
        return Err(TrainError::Data("no XQuAD-R language files found".into()));
    };
    for f in files {
        if f.articles.len() != first.articles.len() {
            return Err(TrainError::Data(format!(
                "{} has {} articles but {} has {}: the files are not parallel",
                f.lang,
                f.articles.len(),
                first.lang,
                first.articles.len()
            )));
        }
    }
    let mut questions = Vec::new();
    for (ai, article) in first.articles.iter().enumerate() {
        if is_heldout_article(ai) {
            continue;
        }
        for (pi, paragraph) in article.paragraphs.iter().enumerate() {
            'question: for (qi, q) in paragraph.questions.iter().enumerate() {
                let mut texts = Vec::with_capacity(files.len());
                for f in files {
                    // Parallel files share ids; fall back to position when a translation lacks one.
                    let Some(p) = f.articles[ai].paragraphs.get(pi) else { continue 'question };
                    let Some(tq) = p.questions.iter().find(|x| x.id == q.id).or_else(|| p.questions.get(qi)) else {
                        continue 'question;
                    };
                    let Some(sentence) = tq.answer_sentence.and_then(|s| p.sentences.get(s)) else { continue 'question };
                    texts.push((tq.text.clone(), sentence.clone()));
                }
                questions.push(TrainQuestion { qid: q.id.clone(), article: ai, texts });
            }
        }
    }
    Ok(PairSet { langs: files.iter().map(|f| f.lang.clone()).collect(), questions })
}

/// Splits off every `every`-th training article (by position among training articles) for the
/// validation loss: whole articles, so validation questions share no context with training.
pub fn split_validation(set: &PairSet, every: usize) -> (PairSet, PairSet) {
    let articles = set.articles();
    let valid: Vec<usize> = articles.iter().enumerate().filter(|(j, _)| every > 0 && j % every == every - 1).map(|(_, &a)| a).collect();
    (set.filter_articles(|a| !valid.contains(&a)), set.filter_articles(|a| valid.contains(&a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(id: &str, sentences: &[&str]) -> TrainQuestion {
        TrainQuestion { qid: id.into(), article: 0, texts: sentences.iter().map(|s| ("?".to_string(), s.to_string())).collect() }
    }

    #[test]
    fn questions_sharing_a_sentence_in_any_language_share_a_group() {
        let set = PairSet {
            langs: vec!["en".into(), "de".into()],
            questions: vec![
                q("a", &["S1", "T1"]),
                q("b", &["S2", "T2"]),
                q("c", &["S1", "T3"]), // shares en S1 with a
                q("d", &["S4", "T2"]), // shares de T2 with b
                q("e", &["S5", "T5"]),
                q("f", &["T1", "S5"]), // same texts as others but in other languages: no clash
            ],
        };
        let g = set.positive_groups();
        assert_eq!(g[0], g[2]);
        assert_eq!(g[1], g[3]);
        assert_ne!(g[0], g[1]);
        assert_ne!(g[4], g[0]);
        assert_ne!(g[5], g[0]);
        assert_ne!(g[5], g[4]);
        assert_eq!(crate::train::sampler::distinct_groups(&g), 4);
    }
}
