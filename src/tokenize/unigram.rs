//! The tokenizer's model stage: SentencePiece Unigram (Viterbi over the vocabulary's pieces),
//! the same segmentation as `tokenizers`' `Unigram`, in a fraction of its memory.
//!
//! `tokenizers` finds the pieces that start at a position with a byte trie whose every node owns
//! a hash map: for XLM-R's 250,002 pieces that trie is ~214 MB of heap (valgrind massif on
//! `hybrid-ir encode`: half the CLI's peak, and as much again in the page's worker). Here the
//! candidates are looked up by hash, one lookup per character boundary up to the longest piece
//! (48 bytes), in one table of the pieces (~15 MB). The lattice walk is `tokenizers`' own order:
//! positions left to right, candidates shortest first, a later candidate replacing an earlier
//! one only when strictly better, unknown characters scored `min_score - 10` and fused, so ties
//! resolve the same way (checked against `tokenizers` on MKQA and XQuAD texts and fuzzed).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tokenizers::models::unigram::UnigramTrainer;
use tokenizers::{Model, Token};

/// `tokenizers`' penalty below the lowest piece score for a character no piece covers.
const UNKNOWN_PENALTY: f64 = 10.0;

/// A Unigram vocabulary: piece -> id, and each id's log-probability.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(try_from = "UnigramFile")]
pub struct Unigram {
    ids: HashMap<Box<str>, u32>,
    scores: Vec<f64>,
    unk_id: u32,
    min_score: f64,
    /// Longest piece in bytes: no lookup past it.
    max_piece: usize,
}

/// The `model` object of a `tokenizer.json`.
#[derive(serde::Deserialize)]
struct UnigramFile {
    #[serde(rename = "type")]
    kind: String,
    unk_id: Option<usize>,
    vocab: Vec<(String, f64)>,
    #[serde(default)]
    byte_fallback: bool,
}

impl TryFrom<UnigramFile> for Unigram {
    type Error = String;

    fn try_from(f: UnigramFile) -> Result<Self, String> {
        if f.kind != "Unigram" {
            return Err(format!("model type {:?} is not supported (expected \"Unigram\", as XLM-R's)", f.kind));
        }
        if f.byte_fallback {
            return Err("Unigram byte_fallback is not supported (XLM-R's tokenizer does not use it)".into());
        }
        let unk_id = f.unk_id.ok_or("the Unigram model has no unk_id")?;
        if unk_id >= f.vocab.len() {
            return Err(format!("unk_id {unk_id} is outside the vocabulary of {} pieces", f.vocab.len()));
        }
        let mut ids = HashMap::with_capacity(f.vocab.len());
        let mut scores = Vec::with_capacity(f.vocab.len());
        let (mut min_score, mut max_piece) = (f64::INFINITY, 0);
        for (id, (piece, score)) in f.vocab.into_iter().enumerate() {
            min_score = min_score.min(score);
            max_piece = max_piece.max(piece.len());
            scores.push(score);
            // A repeated piece keeps its last id, as in `tokenizers`.
            ids.insert(piece.into_boxed_str(), id as u32);
        }
        Ok(Self { ids, scores, unk_id: unk_id as u32, min_score, max_piece })
    }
}

/// The best path's last step into a byte position: where it started, which piece, its score.
#[derive(Clone, Copy)]
struct Step {
    start: usize,
    id: u32,
    score: f64,
}

impl Unigram {
    /// The pieces of `text` on the best-scoring path, with unknown runs fused into one piece.
    fn segment<'t>(&self, text: &'t str) -> Vec<&'t str> {
        let unk_score = self.min_score - UNKNOWN_PENALTY;
        // best[end]: the best path covering text[..end]; best[0] is the empty path.
        let mut best: Vec<Option<Step>> = vec![None; text.len() + 1];
        let relax = |best: &mut [Option<Step>], end: usize, step: Step| {
            if best[end].is_none_or(|b| step.score > b.score) {
                best[end] = Some(step);
            }
        };
        for (start, c) in text.char_indices() {
            // Reached by the character before (best[0], the empty path, scores 0).
            let base = best[start].map_or(0.0, |s| s.score);
            let first_char = start + c.len_utf8();
            let mut covers_char = false;
            let limit = (start + self.max_piece).min(text.len());
            for end in (first_char..=limit).filter(|&e| text.is_char_boundary(e)) {
                if let Some(&id) = self.ids.get(&text[start..end]) {
                    relax(&mut best, end, Step { start, id, score: base + self.scores[id as usize] });
                    covers_char |= end == first_char;
                }
            }
            if !covers_char {
                relax(&mut best, first_char, Step { start, id: self.unk_id, score: base + unk_score });
            }
        }
        let mut pieces = Vec::new();
        let (mut end, mut unknown_from) = (text.len(), None);
        while end > 0 {
            let step = best[end].expect("every character boundary is reached: each character has a piece or <unk>");
            if step.id == self.unk_id {
                unknown_from.get_or_insert(end);
            } else {
                if let Some(run_end) = unknown_from.take() {
                    pieces.push(&text[end..run_end]);
                }
                pieces.push(&text[step.start..end]);
            }
            end = step.start;
        }
        if let Some(run_end) = unknown_from {
            pieces.push(&text[..run_end]);
        }
        pieces.reverse();
        pieces
    }
}

impl Model for Unigram {
    type Trainer = UnigramTrainer;

    fn tokenize(&self, sequence: &str) -> tokenizers::Result<Vec<Token>> {
        let mut offset = 0;
        let pieces = self.segment(sequence);
        Ok(pieces
            .into_iter()
            .map(|piece| {
                // A fused unknown run that happens to spell a piece is that piece (as in `tokenizers`).
                let id = self.ids.get(piece).copied().unwrap_or(self.unk_id);
                let token = Token::new(id, piece.to_string(), (offset, offset + piece.len()));
                offset += piece.len();
                token
            })
            .collect())
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    /// A scan of the table: only decoding asks, and we never decode.
    fn id_to_token(&self, id: u32) -> Option<String> {
        self.ids.iter().find(|(_, &i)| i == id).map(|(p, _)| p.to_string())
    }

    fn get_vocab(&self) -> HashMap<String, u32> {
        self.ids.iter().map(|(p, &i)| (p.to_string(), i)).collect()
    }

    fn get_vocab_size(&self) -> usize {
        self.scores.len()
    }

    fn save(&self, _folder: &Path, _prefix: Option<&str>) -> tokenizers::Result<Vec<PathBuf>> {
        Err("hybrid-ir's Unigram model is read-only: save the original tokenizer.json instead".into())
    }

    fn get_trainer(&self) -> UnigramTrainer {
        UnigramTrainer::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(vocab: &[(&str, f64)]) -> Unigram {
        let vocab = vocab.iter().map(|(p, s)| (p.to_string(), *s)).collect();
        Unigram::try_from(UnigramFile { kind: "Unigram".into(), unk_id: Some(0), vocab, byte_fallback: false }).unwrap()
    }

    fn ids(m: &Unigram, text: &str) -> Vec<u32> {
        m.tokenize(text).unwrap().into_iter().map(|t| t.id).collect()
    }

    #[test]
    fn picks_the_best_scoring_path_and_fuses_unknown_runs() {
        let m = model(&[("<unk>", 0.0), ("a", -1.0), ("b", -1.0), ("ab", -1.5), ("abc", -4.0), ("c", -1.0)]);
        assert_eq!(ids(&m, "ab"), [3], "one piece at -1.5 beats two at -2");
        assert_eq!(ids(&m, "abc"), [3, 5], "ab + c (-2.5) beats abc (-4)");
        // "xy" has no piece: one fused <unk>, its text kept whole.
        let t = m.tokenize("axyb").unwrap();
        assert_eq!(t.iter().map(|t| (t.id, t.value.as_str(), t.offsets)).collect::<Vec<_>>(), [(1, "a", (0, 1)), (0, "xy", (1, 3)), (2, "b", (3, 4))]);
        assert!(m.tokenize("").unwrap().is_empty());
    }

    #[test]
    fn ties_keep_the_first_candidate_found() {
        // "ab" and "a" + "b" both score -2. Position 0 offers "ab" first; "b" from position 1
        // only ties it, so "ab" stays (as in `tokenizers`).
        let vocab = [("<unk>", 0.0), ("a", -1.0), ("b", -1.0), ("ab", -2.0)];
        assert_eq!(ids(&model(&vocab), "ab"), [3]);
        assert_eq!(reference(&vocab, "ab"), [3]);
    }

    #[test]
    fn an_unknown_character_costs_ten_below_the_lowest_piece() {
        // "x" has no piece. x + yz would score -10 - 1 with the unknown at the lowest score;
        // ten below it, -21, loses to xy + z (-20).
        let vocab = [("<unk>", 0.0), ("xy", -10.0), ("z", -10.0), ("y", -1.0), ("yz", -1.0)];
        assert_eq!(ids(&model(&vocab), "xyz"), [1, 2]);
        assert_eq!(reference(&vocab, "xyz"), [1, 2]);
    }

    /// `tokenizers`' own Unigram on the same vocabulary.
    fn reference(vocab: &[(&str, f64)], text: &str) -> Vec<u32> {
        let vocab = vocab.iter().map(|(p, s)| (p.to_string(), *s)).collect();
        let u = tokenizers::models::unigram::Unigram::from(vocab, Some(0), false).unwrap();
        u.tokenize(text).unwrap().into_iter().map(|t| t.id).collect()
    }

    #[test]
    fn rejects_models_it_does_not_implement() {
        let file = |kind: &str, unk_id, byte_fallback| UnigramFile { kind: kind.into(), unk_id, vocab: vec![("<unk>".into(), 0.0)], byte_fallback };
        assert!(Unigram::try_from(file("BPE", Some(0), false)).unwrap_err().contains("not supported"));
        assert!(Unigram::try_from(file("Unigram", Some(0), true)).unwrap_err().contains("byte_fallback"));
        assert!(Unigram::try_from(file("Unigram", None, false)).unwrap_err().contains("unk_id"));
        assert!(Unigram::try_from(file("Unigram", Some(5), false)).unwrap_err().contains("outside"));
    }
}
