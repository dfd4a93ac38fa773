//! MKQA in two layouts: the MIA 2022 rows (`mkqa-LANG.jsonl`, one language per file) and the
//! official schema (`mkqa.jsonl(.gz)`, one record with all languages per line).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde_json::Value;

use super::{read_file, SourceError};

/// One question in every language it exists in.
#[derive(Debug, Clone, PartialEq)]
pub struct MkqaQuestion {
    pub id: String,
    /// lang -> question text.
    pub queries: BTreeMap<String, String>,
    /// lang -> answer strings (empty where the file has none).
    pub answers: BTreeMap<String, Vec<String>>,
}

/// Parses one MIA file; rows are `{id: "<example>_<lang>", lang, question, answers: [..]}`.
/// One row of a MIA file: (example id, language, question, answers).
pub type MiaRow = (String, String, String, Vec<String>);

pub fn read_mia_rows(bytes: &[u8], file: &str) -> Result<Vec<MiaRow>, SourceError> {
    let text = std::str::from_utf8(bytes).map_err(|e| SourceError::malformed(file, "file", format!("not UTF-8: {e}")))?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("line {}", n + 1);
        let v: Value = serde_json::from_str(line).map_err(|e| SourceError::malformed(file, &at, format!("invalid JSON: {e}")))?;
        let get = |k: &str| {
            v.get(k).and_then(Value::as_str).map(str::to_string).ok_or_else(|| {
                SourceError::malformed(file, &at, format!("field `{k}` missing or not a string"))
            })
        };
        let (id, lang, question) = (get("id")?, get("lang")?, get("question")?);
        let example = id
            .strip_suffix(&format!("_{lang}"))
            .ok_or_else(|| SourceError::malformed(file, &at, format!("id {id:?} does not end in _{lang}")))?
            .to_string();
        let answers = match v.get("answers") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| SourceError::malformed(file, &at, "`answers` must hold strings"))?,
            Some(_) => return Err(SourceError::malformed(file, &at, "`answers` is not an array")),
        };
        rows.push((example, lang, question, answers));
    }
    Ok(rows)
}

/// Reads every `mkqa-*.jsonl` in `dir` and joins the languages by example id (file order of the
/// first language kept).
pub fn read_mia_dir(dir: &Path) -> Result<Vec<MkqaQuestion>, SourceError> {
    let entries = std::fs::read_dir(dir).map_err(|source| SourceError::Io { path: dir.display().to_string(), source })?;
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(SourceError::malformed(&dir.display().to_string(), "folder", "no mkqa-*.jsonl files"));
    }
    let mut order: Vec<String> = Vec::new();
    let mut by_id: BTreeMap<String, MkqaQuestion> = BTreeMap::new();
    for path in files {
        let name = path.display().to_string();
        for (example, lang, question, answers) in read_mia_rows(&read_file(&path)?, &name)? {
            let q = by_id.entry(example.clone()).or_insert_with(|| {
                order.push(example.clone());
                MkqaQuestion { id: example.clone(), queries: BTreeMap::new(), answers: BTreeMap::new() }
            });
            q.queries.insert(lang.clone(), question);
            q.answers.insert(lang, answers);
        }
    }
    Ok(order.into_iter().filter_map(|id| by_id.remove(&id)).collect())
}

/// Reads the official MKQA schema (`.jsonl` or `.jsonl.gz`): `{example_id, queries: {lang:
/// text}, answers: {lang: [{type, text, aliases}]}}`; unanswerable answers (text null) are dropped.
pub fn read_official(path: &Path) -> Result<Vec<MkqaQuestion>, SourceError> {
    let raw = read_file(path)?;
    parse_official(&raw, &path.display().to_string(), path.extension().is_some_and(|x| x == "gz"))
}

/// [`read_official`] on bytes already read (`gzip`: whether they are compressed).
pub fn parse_official(raw: &[u8], file: &str, gzip: bool) -> Result<Vec<MkqaQuestion>, SourceError> {
    let file = file.to_string();
    let text = if gzip {
        let mut s = String::new();
        flate2::read::GzDecoder::new(raw)
            .read_to_string(&mut s)
            .map_err(|e| SourceError::malformed(&file, "gzip stream", e.to_string()))?;
        s
    } else {
        String::from_utf8(raw.to_vec()).map_err(|e| SourceError::malformed(&file, "file", format!("not UTF-8: {e}")))?
    };
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("line {}", n + 1);
        let v: Value = serde_json::from_str(line).map_err(|e| SourceError::malformed(&file, &at, format!("invalid JSON: {e}")))?;
        let id = match v.get("example_id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(SourceError::malformed(&file, &at, "field `example_id` missing")),
        };
        let queries = v
            .get("queries")
            .and_then(Value::as_object)
            .ok_or_else(|| SourceError::malformed(&file, &at, "field `queries` missing or not an object"))?
            .iter()
            .map(|(k, q)| q.as_str().map(|s| (k.clone(), s.to_string())))
            .collect::<Option<BTreeMap<_, _>>>()
            .ok_or_else(|| SourceError::malformed(&file, &at, "`queries` values must be strings"))?;
        let mut answers = BTreeMap::new();
        let ans = v
            .get("answers")
            .and_then(Value::as_object)
            .ok_or_else(|| SourceError::malformed(&file, &at, "field `answers` missing or not an object"))?;
        for (lang, list) in ans {
            let list = list
                .as_array()
                .ok_or_else(|| SourceError::malformed(&file, &at, format!("answers.{lang} is not an array")))?;
            answers.insert(lang.clone(), list.iter().filter_map(|a| a.get("text")?.as_str().map(str::to_string)).collect());
        }
        out.push(MkqaQuestion { id, queries, answers });
    }
    Ok(out)
}
