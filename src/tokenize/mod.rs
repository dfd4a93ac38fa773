//! Text -> token ids: the E5 role prefix, XLM-R SentencePiece (Hugging Face `tokenizer.json`),
//! truncation to a configurable length (counted, never silent) and padding into a batch.

mod unigram;

use std::sync::Arc;

use thiserror::Error;
use tokenizers::{DecoderWrapper, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper, TokenizerImpl};

pub use unigram::Unigram;

/// A `tokenizer.json` pipeline (normalizer, pre-tokenizer, special tokens, post-processor from
/// `tokenizers`) with our [`Unigram`] as its model stage.
type Pipeline = TokenizerImpl<Unigram, NormalizerWrapper, PreTokenizerWrapper, PostProcessorWrapper, DecoderWrapper>;

/// Which side of retrieval a text is on; E5 was trained with a different prefix for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Query,
    Passage,
}

impl Role {
    pub fn prefix(self) -> &'static str {
        match self {
            Role::Query => "query: ",
            Role::Passage => "passage: ",
        }
    }

    /// Default maximum tokens (specials included), per docs/evaluation: queries 64, passages 128.
    pub fn default_max_len(self) -> usize {
        match self {
            Role::Query => 64,
            Role::Passage => 128,
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "query" => Ok(Role::Query),
            "passage" => Ok(Role::Passage),
            other => Err(format!("unknown role {other:?}: expected \"query\" or \"passage\"")),
        }
    }
}

#[derive(Debug, Error)]
pub enum TokenizeError {
    #[error("cannot load tokenizer {source_name}: {message}")]
    Load { source_name: String, message: String },
    #[error("tokenizer failed on text #{index}: {message}")]
    Encode { index: usize, message: String },
    #[error("max_len {0} is too small: it must leave room for <s> and </s> (>= 3)")]
    MaxLen(usize),
}

/// A padded batch ready for the encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBatch {
    /// Row-major `[batch, len]`.
    pub ids: Vec<u32>,
    /// `true` where the position is padding.
    pub pad_mask: Vec<bool>,
    pub batch: usize,
    pub len: usize,
    /// Real token count of each text after truncation.
    pub lengths: Vec<usize>,
    /// How many texts were cut to `max_len`.
    pub truncated: usize,
}

/// XLM-R special ids used by multilingual-e5.
pub const CLS_ID: u32 = 0;
pub const PAD_ID: u32 = 1;
pub const SEP_ID: u32 = 2;

/// Cheap to clone (the vocabulary is shared): the browser's worker copies its encoder, tokenizer
/// included, for every query, and a deep copy of the 250,002-piece model cost ~130 ms a query
/// there (scripts/bench-browser).
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Arc<Pipeline>,
}

impl TextTokenizer {
    /// Parses a `tokenizer.json` image (the browser passes fetched bytes).
    pub fn from_bytes(bytes: &[u8], source_name: &str) -> Result<Self, TokenizeError> {
        let mut inner: Pipeline = serde_json::from_slice(bytes)
            .map_err(|e| TokenizeError::Load { source_name: source_name.into(), message: e.to_string() })?;
        // We truncate and pad ourselves, so that both are explicit and counted.
        inner
            .with_truncation(None)
            .map_err(|e| TokenizeError::Load { source_name: source_name.into(), message: e.to_string() })?;
        inner.with_padding(None);
        Ok(Self { inner: Arc::new(inner) })
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_file(path: &std::path::Path) -> Result<Self, TokenizeError> {
        let bytes = std::fs::read(path).map_err(|e| TokenizeError::Load {
            source_name: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// Token ids of one text with its role prefix, `<s>` and `</s>`, cut to `max_len` keeping
    /// the closing `</s>`. Returns the ids and whether the text was truncated.
    pub fn encode(&self, text: &str, role: Role, max_len: usize) -> Result<(Vec<u32>, bool), TokenizeError> {
        self.encode_indexed(text, role, max_len, 0)
    }

    fn encode_indexed(
        &self,
        text: &str,
        role: Role,
        max_len: usize,
        index: usize,
    ) -> Result<(Vec<u32>, bool), TokenizeError> {
        if max_len < 3 {
            return Err(TokenizeError::MaxLen(max_len));
        }
        let prefixed = format!("{}{}", role.prefix(), text);
        let enc = self
            .inner
            .encode(prefixed, true)
            .map_err(|e| TokenizeError::Encode { index, message: e.to_string() })?;
        let mut ids = enc.get_ids().to_vec();
        let truncated = ids.len() > max_len;
        if truncated {
            ids.truncate(max_len - 1);
            ids.push(SEP_ID);
        }
        Ok((ids, truncated))
    }

    /// Tokenises and right-pads a batch to its longest member.
    pub fn batch<S: AsRef<str>>(&self, texts: &[S], role: Role, max_len: usize) -> Result<TokenBatch, TokenizeError> {
        let mut rows = Vec::with_capacity(texts.len());
        let mut truncated = 0;
        for (i, t) in texts.iter().enumerate() {
            let (ids, cut) = self.encode_indexed(t.as_ref(), role, max_len, i)?;
            truncated += cut as usize;
            rows.push(ids);
        }
        let len = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(rows.len() * len);
        let mut pad_mask = Vec::with_capacity(rows.len() * len);
        let lengths = rows.iter().map(Vec::len).collect();
        for row in &rows {
            ids.extend_from_slice(row);
            ids.extend(std::iter::repeat_n(PAD_ID, len - row.len()));
            pad_mask.extend(std::iter::repeat_n(false, row.len()));
            pad_mask.extend(std::iter::repeat_n(true, len - row.len()));
        }
        Ok(TokenBatch { ids, pad_mask, batch: rows.len(), len, lengths, truncated })
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `tokenizer.json` of three pieces, with `model_type` as its model's type.
    fn tokenizer_json(model_type: &str) -> String {
        format!(
            r#"{{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
            "normalizer": null, "pre_tokenizer": {{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}},
            "post_processor": null, "decoder": null,
            "model": {{"type": "{model_type}", "unk_id": 0, "vocab": [["<unk>", 0.0], ["▁a", -1.0], ["b", -2.0]]}}}}"#
        )
    }

    #[test]
    fn loads_a_unigram_tokenizer_json_and_refuses_other_models_by_name() {
        let tok = TextTokenizer::from_bytes(tokenizer_json("Unigram").as_bytes(), "t.json").unwrap();
        assert_eq!(tok.vocab_size(), 3);
        // No post-processor here, so no <s> / </s>: the pre-tokenizer gives "▁ab", the model ▁a + b.
        let ids = tok.inner.encode("ab", false).unwrap().get_ids().to_vec();
        assert_eq!(ids, [1, 2]);
        let err = TextTokenizer::from_bytes(tokenizer_json("BPE").as_bytes(), "bpe/tokenizer.json").err().expect("BPE is refused");
        let message = err.to_string();
        assert!(message.contains("bpe/tokenizer.json") && message.contains("\"BPE\" is not supported"), "{message}");
    }
}
