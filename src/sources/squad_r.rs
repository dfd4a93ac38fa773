//! SQuAD v1.1 JSON with LAReQA's per-paragraph `sentences` and `sentence_breaks` (XQuAD-R,
//! MLQA-R); plain XQuAD (no sentence fields) parses too, for training pairs.

use std::path::Path;

use serde_json::Value;

use super::{read_file, SourceError};

#[derive(Debug, Clone)]
pub struct Question {
    pub id: String,
    pub text: String,
    /// Character offset of the first answer in the paragraph context.
    pub answer_start: usize,
    /// Text of the first answer (checked against the sentence it is assigned to).
    pub answer_text: String,
    /// Index in `Paragraph::sentences` of the sentence that contains the answer, if any.
    pub answer_sentence: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Paragraph {
    pub context: String,
    pub sentences: Vec<String>,
    /// `[start, end)` character range of each sentence in `context`.
    pub breaks: Vec<(usize, usize)>,
    pub questions: Vec<Question>,
}

#[derive(Debug, Clone)]
pub struct Article {
    pub title: String,
    pub paragraphs: Vec<Paragraph>,
}

/// One language file.
#[derive(Debug, Clone)]
pub struct SquadRLang {
    pub lang: String,
    pub articles: Vec<Article>,
}

fn field<'a>(v: &'a Value, key: &str, file: &str, at: &str) -> Result<&'a Value, SourceError> {
    v.get(key).ok_or_else(|| SourceError::malformed(file, at, format!("missing field `{key}`")))
}

fn array<'a>(v: &'a Value, key: &str, file: &str, at: &str) -> Result<&'a Vec<Value>, SourceError> {
    field(v, key, file, at)?
        .as_array()
        .ok_or_else(|| SourceError::malformed(file, at, format!("field `{key}` is not an array")))
}

fn string(v: &Value, key: &str, file: &str, at: &str) -> Result<String, SourceError> {
    field(v, key, file, at)?
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| SourceError::malformed(file, at, format!("field `{key}` is not a string")))
}

/// Parses one file's bytes; `require_sentences` = the LAReQA fields must be present.
pub fn parse_squad_r(bytes: &[u8], lang: &str, file: &str, require_sentences: bool) -> Result<SquadRLang, SourceError> {
    let root: Value = serde_json::from_slice(bytes)
        .map_err(|e| SourceError::malformed(file, format!("line {}", e.line()), format!("invalid JSON: {e}")))?;
    let mut articles = Vec::new();
    for (ai, a) in array(&root, "data", file, "top level")?.iter().enumerate() {
        let at = format!("data[{ai}]");
        let title = a.get("title").and_then(Value::as_str).unwrap_or_default().to_string();
        let mut paragraphs = Vec::new();
        for (pi, p) in array(a, "paragraphs", file, &at)?.iter().enumerate() {
            let at = format!("data[{ai}].paragraphs[{pi}]");
            let context = string(p, "context", file, &at)?;
            let (sentences, breaks) = if require_sentences || p.get("sentences").is_some() {
                let sentences: Vec<String> = array(p, "sentences", file, &at)?
                    .iter()
                    .map(|s| s.as_str().map(str::to_string))
                    .collect::<Option<_>>()
                    .ok_or_else(|| SourceError::malformed(file, &at, "`sentences` must hold strings"))?;
                let breaks: Vec<(usize, usize)> = array(p, "sentence_breaks", file, &at)?
                    .iter()
                    .map(|b| {
                        let pair = b.as_array()?;
                        Some((pair.first()?.as_u64()? as usize, pair.get(1)?.as_u64()? as usize))
                    })
                    .collect::<Option<_>>()
                    .ok_or_else(|| SourceError::malformed(file, &at, "`sentence_breaks` must hold [start, end] pairs"))?;
                if breaks.len() != sentences.len() {
                    return Err(SourceError::malformed(
                        file,
                        &at,
                        format!("{} sentences but {} sentence_breaks", sentences.len(), breaks.len()),
                    ));
                }
                (sentences, breaks)
            } else {
                (Vec::new(), Vec::new())
            };
            let mut questions = Vec::new();
            for (qi, q) in array(p, "qas", file, &at)?.iter().enumerate() {
                let at = format!("{at}.qas[{qi}]");
                let id = string(q, "id", file, &at)?;
                let text = string(q, "question", file, &at)?;
                let answers = array(q, "answers", file, &at)?;
                let first = answers.first().ok_or_else(|| SourceError::malformed(file, &at, "no answers"))?;
                let answer_start = field(first, "answer_start", file, &at)?
                    .as_u64()
                    .ok_or_else(|| SourceError::malformed(file, &at, "`answer_start` is not a non-negative integer"))?
                    as usize;
                let answer_text = first.get("text").and_then(Value::as_str).unwrap_or_default().to_string();
                let answer_sentence = sentence_containing(&breaks, answer_start);
                questions.push(Question { id, text, answer_start, answer_text, answer_sentence });
            }
            paragraphs.push(Paragraph { context, sentences, breaks, questions });
        }
        articles.push(Article { title, paragraphs });
    }
    Ok(SquadRLang { lang: lang.to_string(), articles })
}

/// Reads every `LANG.json` (XQuAD-R, MLQA-R) or `xquad.LANG.json` (XQuAD) in `dir`, sorted by
/// language code.
pub fn read_squad_r_dir(dir: &Path, require_sentences: bool) -> Result<Vec<SquadRLang>, SourceError> {
    let entries = std::fs::read_dir(dir).map_err(|source| SourceError::Io { path: dir.display().to_string(), source })?;
    let mut files = Vec::new();
    for e in entries {
        let e = e.map_err(|source| SourceError::Io { path: dir.display().to_string(), source })?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".json") {
            let lang = stem.strip_prefix("xquad.").unwrap_or(stem).to_string();
            files.push((lang, e.path()));
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|(lang, path)| parse_squad_r(&read_file(&path)?, &lang, &path.display().to_string(), require_sentences))
        .collect()
}

/// Fills in sentences for files that lack them (plain XQuAD, e.g. Romanian, which XQuAD-R does
/// not include) with a rule-based splitter: a sentence ends at `.`, `!`, `?` or the Devanagari
/// danda followed by whitespace, or at CJK full stops. Answer sentences are found from
/// `answer_start` (a character offset), as LAReQA did with its own segmenter.
pub fn segment_sentences(file: &mut SquadRLang) {
    for p in file.articles.iter_mut().flat_map(|a| a.paragraphs.iter_mut()) {
        if !p.sentences.is_empty() {
            continue;
        }
        let breaks = sentence_breaks(&p.context);
        let chars: Vec<char> = p.context.chars().collect();
        p.sentences = breaks.iter().map(|&(s, e)| chars[s..e].iter().collect::<String>().trim().to_string()).collect();
        for q in &mut p.questions {
            q.answer_sentence = sentence_containing(&breaks, q.answer_start);
        }
        p.breaks = breaks;
    }
}

/// The sentence whose `[start, end)` character range holds `offset`. End-exclusive: where one
/// sentence ends exactly where the next begins (unspaced scripts such as Chinese), the offset
/// belongs to the later one, which is the one that contains the answer.
pub fn sentence_containing(breaks: &[(usize, usize)], offset: usize) -> Option<usize> {
    breaks.iter().position(|&(s, e)| s <= offset && offset < e)
}

/// `[start, end)` character ranges of the sentences of `text`, covering it without gaps.
pub fn sentence_breaks(text: &str) -> Vec<(usize, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let end = if matches!(c, '。' | '！' | '？') {
            Some(i + 1)
        } else if matches!(c, '.' | '!' | '?' | '।') && chars.get(i + 1).is_some_and(|n| n.is_whitespace()) {
            // "e.g. x" or "J. Smith": a single letter or a lowercase word next is no boundary.
            let next = chars[i + 1..].iter().find(|n| !n.is_whitespace());
            let short_token = i >= 1 && chars[i - 1].is_alphabetic() && (i < 2 || !chars[i - 2].is_alphabetic());
            (!short_token && next.is_some_and(|n| !n.is_lowercase())).then_some(i + 1)
        } else {
            None
        };
        if let Some(end) = end {
            let mut e = end;
            while e < chars.len() && chars[e].is_whitespace() {
                e += 1;
            }
            out.push((start, e));
            start = e;
            i = e;
        } else {
            i += 1;
        }
    }
    if start < chars.len() || out.is_empty() {
        out.push((start, chars.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_sentence_ends_but_not_initials_or_lowercase_continuations() {
        let t = "Ion a venit. J. Smith a plecat, de ex. ieri! Apoi 3 oameni? 你好。再见";
        let b = sentence_breaks(t);
        let chars: Vec<char> = t.chars().collect();
        let s: Vec<String> = b.iter().map(|&(a, e)| chars[a..e].iter().collect::<String>().trim().to_string()).collect();
        assert_eq!(s, vec!["Ion a venit.", "J. Smith a plecat, de ex. ieri!", "Apoi 3 oameni?", "你好。", "再见"]);
        assert_eq!(b.last().unwrap().1, chars.len());
        assert!(b.windows(2).all(|w| w[0].1 == w[1].0), "no gaps");
    }

    #[test]
    fn an_offset_on_a_shared_boundary_belongs_to_the_later_sentence() {
        // "你好。再见" split as [0, 3) and [3, 5): an answer starting at 3 is "再见".
        let breaks = [(0, 3), (3, 5)];
        assert_eq!(sentence_containing(&breaks, 3), Some(1));
        assert_eq!(sentence_containing(&breaks, 2), Some(0));
        assert_eq!(sentence_containing(&breaks, 5), None);
        let json = r#"{"data":[{"title":"t","paragraphs":[{"context":"你好。再见","sentences":["你好。","再见"],
            "sentence_breaks":[[0,3],[3,5]],"qas":[{"id":"q","question":"?","answers":[{"answer_start":3,"text":"再见"}]}]}]}]}"#;
        let f = parse_squad_r(json.as_bytes(), "zh", "zh.json", true).unwrap();
        let q = &f.articles[0].paragraphs[0].questions[0];
        assert_eq!(q.answer_sentence, Some(1));
        assert_eq!(q.answer_text, "再见");
    }
}
