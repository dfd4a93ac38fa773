//! The page's URL: every view is a query string (`?q=..&lang=..&model=..`), so a shared link
//! reopens it. Parsing and writing live here, outside the browser bindings, so the same code is
//! tested natively: any string parses to a valid state (unknown values fall back to defaults,
//! long ones are cut), and a state survives a round trip through its query string.

use super::protocol::BackendChoice;

/// Longest query the page accepts (characters); longer text is cut and the page says so.
pub const MAX_QUERY_CHARS: usize = 500;
/// Longest value of any other parameter (model, pool and task names are far shorter).
pub const MAX_NAME_CHARS: usize = 100;

/// MKQA's 26 languages (the picker), with their names.
pub const MKQA_LANGS: [(&str, &str); 26] = [
    ("ar", "Arabic"), ("da", "Danish"), ("de", "German"), ("en", "English"), ("es", "Spanish"), ("fi", "Finnish"),
    ("fr", "French"), ("he", "Hebrew"), ("hu", "Hungarian"), ("it", "Italian"), ("ja", "Japanese"), ("km", "Khmer"),
    ("ko", "Korean"), ("ms", "Malay"), ("nl", "Dutch"), ("no", "Norwegian"), ("pl", "Polish"), ("pt", "Portuguese"),
    ("ru", "Russian"), ("sv", "Swedish"), ("th", "Thai"), ("tr", "Turkish"), ("vi", "Vietnamese"),
    ("zh_cn", "Chinese (simplified)"), ("zh_hk", "Chinese (Hong Kong)"), ("zh_tw", "Chinese (traditional)"),
];

/// Everything the URL carries, so a shared link reopens the same view.
#[derive(Debug, Clone, PartialEq)]
pub struct UrlState {
    pub q: String,
    pub lang: String,
    pub pool: String,
    pub model: String,
    /// Second model for side-by-side ("" = none).
    pub cmp: String,
    /// "search", "charts", "bias" or "reproduce".
    pub view: String,
    /// The bias view's question (an example's qid; "" = the first).
    pub question: String,
    /// Task of the plots and of the Reproduce view.
    pub task: String,
    /// The Reproduce view's size ("" = its sample, "whole") and pool mode ("" = the shipped
    /// index, "scratch" = encoded in the browser).
    pub size: String,
    pub mode: String,
    pub heat: String,
    /// Heat-map mode: "" = mAP, "delta" = change versus the base model.
    pub hm: String,
    /// `backend=cpu` or `backend=webgpu`; by default the faster of the two at warm-up.
    pub backend: BackendChoice,
    /// `simd=baseline`: the inference worker built for baseline wasm SIMD even where the browser
    /// has relaxed SIMD (by default the page starts the relaxed build there).
    pub simd: String,
    /// Characters cut from an over-long `q` (not written back; the page says it).
    pub q_cut: usize,
}

/// A language code as the datasets write them (`en`, `zh_cn`): 2-10 of `a-z` and `_`.
fn is_lang_code(l: &str) -> bool {
    (2..=10).contains(&l.len()) && l.bytes().all(|c| c.is_ascii_lowercase() || c == b'_')
}

fn cut(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

impl UrlState {
    /// Parses a query string (with or without the leading `?`). Never fails: what is unknown
    /// or malformed takes its default.
    pub fn from_query(query: &str) -> UrlState {
        let pairs = parse_query(query);
        let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str()).unwrap_or("");
        let name = |k: &str, default: &str| Some(cut(get(k), MAX_NAME_CHARS)).filter(|v| !v.is_empty()).unwrap_or_else(|| default.into());
        UrlState {
            q: cut(get("q"), MAX_QUERY_CHARS),
            lang: Some(get("lang")).filter(|l| is_lang_code(l)).unwrap_or("en").into(),
            pool: name("pool", "mkqa"),
            model: name("model", ""),
            cmp: name("cmp", ""),
            view: Some(get("view")).filter(|v| ["charts", "bias", "reproduce"].contains(v)).unwrap_or("search").into(),
            question: name("question", ""),
            task: name("task", "xquad-r-heldout"),
            size: Some(get("size")).filter(|v| *v == "whole").unwrap_or("").into(),
            mode: Some(get("mode")).filter(|v| *v == "scratch").unwrap_or("").into(),
            heat: name("heat", ""),
            hm: Some(get("hm")).filter(|m| *m == "delta").unwrap_or("").into(),
            backend: BackendChoice::parse(get("backend")),
            simd: Some(get("simd")).filter(|v| *v == "baseline").unwrap_or("").into(),
            q_cut: get("q").chars().count().saturating_sub(MAX_QUERY_CHARS),
        }
    }

    /// The query string (without `?`); empty values are left out.
    pub fn to_query(&self) -> String {
        let mut pairs: Vec<(&str, &str)> = [
            ("q", &self.q),
            ("lang", &self.lang),
            ("pool", &self.pool),
            ("model", &self.model),
            ("cmp", &self.cmp),
            ("view", &self.view),
            ("question", &self.question),
            ("task", &self.task),
            ("size", &self.size),
            ("mode", &self.mode),
            ("heat", &self.heat),
            ("hm", &self.hm),
            ("simd", &self.simd),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k, v.as_str()))
        .collect();
        if self.backend != BackendChoice::Auto {
            pairs.push(("backend", self.backend.as_str()));
        }
        pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
    }
}

impl UrlState {
    /// The Reproduce view's size and pool mode.
    pub fn reproduce_run(&self) -> (crate::assets::reproduce::Size, crate::assets::reproduce::Mode) {
        use crate::assets::reproduce::{Mode, Size};
        (if self.size == "whole" { Size::Whole } else { Size::Sample }, if self.mode == "scratch" { Mode::Scratch } else { Mode::Shipped })
    }

    /// What a visit without any parameter opens on: the first English example question of the
    /// held-out XQuAD-R sentence pool (its answers are sentences in 11 languages, so a working
    /// ranking is visible at once), next to the base model, with its correct answers marked.
    /// `None` when the bundle has no such example (then the plain search view opens).
    pub fn first_impression(examples: &[crate::assets::Example], default_model: &str) -> Option<UrlState> {
        let e = examples.iter().find(|e| e.pool.as_deref() == Some("xquad-r") && e.lang == "en" && !e.relevant.is_empty())?;
        let mut u = UrlState::from_query("");
        u.q = cut(e.text.trim(), MAX_QUERY_CHARS);
        u.pool = "xquad-r".into();
        u.model = default_model.into();
        u.cmp = if default_model == "base" { String::new() } else { "base".into() };
        Some(u)
    }
}

/// `application/x-www-form-urlencoded` decoding, as `URLSearchParams` does it: `+` is a space,
/// `%XY` a byte, a malformed escape stays literal, invalid UTF-8 becomes U+FFFD.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .strip_prefix('?')
        .unwrap_or(query)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but `A-Z a-z 0-9 * - . _` (spaces as `+`), like `URLSearchParams`.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => out.push(c as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{c:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_link_reopens_the_same_view() {
        let s = UrlState::from_query("?view=bias&question=-3407656036949886841&model=base&cmp=alpha-0.5-seed-1");
        assert_eq!((s.view.as_str(), s.question.as_str(), s.model.as_str(), s.cmp.as_str()), ("bias", "-3407656036949886841", "base", "alpha-0.5-seed-1"));
        assert_eq!(UrlState::from_query(&s.to_query()), s);
        let s = UrlState::from_query("?view=reproduce&task=mkqa&model=base&size=whole&mode=scratch");
        assert_eq!((s.view.as_str(), s.task.as_str(), s.size.as_str(), s.mode.as_str()), ("reproduce", "mkqa", "whole", "scratch"));
        assert_eq!(UrlState::from_query(&s.to_query()), s);
        let s = UrlState::from_query("?q=Wie+hoch+ist+der+Mount+Everest%3F&lang=de&model=alpha-0.5-seed-1&cmp=base&view=charts&hm=delta&backend=cpu");
        assert_eq!(s.q, "Wie hoch ist der Mount Everest?");
        assert_eq!((s.lang.as_str(), s.model.as_str(), s.cmp.as_str(), s.view.as_str(), s.hm.as_str(), s.backend), ("de", "alpha-0.5-seed-1", "base", "charts", "delta", BackendChoice::Cpu));
        assert_eq!(UrlState::from_query(&s.to_query()), s);
        for (query, backend) in [("?backend=webgpu", BackendChoice::WebGpu), ("?backend=gpu", BackendChoice::Auto), ("", BackendChoice::Auto)] {
            let s = UrlState::from_query(query);
            assert_eq!(s.backend, backend, "{query}");
            assert_eq!(UrlState::from_query(&s.to_query()), s);
        }
        for (query, simd) in [("?simd=baseline&backend=cpu", "baseline"), ("?simd=relaxed", ""), ("", "")] {
            let s = UrlState::from_query(query);
            assert_eq!(s.simd, simd, "{query}");
            assert_eq!(UrlState::from_query(&s.to_query()), s);
        }
    }

    #[test]
    fn a_first_visit_opens_on_a_sentence_pool_question() {
        let ex = |qid: &str, lang: &str, pool: &str, rel: Vec<u32>| crate::assets::Example { qid: qid.into(), lang: lang.into(), text: format!(" {qid} {lang} "), pool: Some(pool.into()), relevant: rel };
        let examples = vec![ex("m1", "en", "mkqa", vec![1]), ex("x0", "en", "xquad-r", vec![]), ex("x1", "de", "xquad-r", vec![2]), ex("x1", "en", "xquad-r", vec![2])];
        let u = UrlState::first_impression(&examples, "alpha-0.5-seed-1").unwrap();
        assert_eq!((u.q.as_str(), u.pool.as_str(), u.lang.as_str(), u.model.as_str(), u.cmp.as_str(), u.view.as_str()), ("x1 en", "xquad-r", "en", "alpha-0.5-seed-1", "base", "search"));
        assert_eq!(UrlState::first_impression(&examples, "base").unwrap().cmp, "", "the base is not compared with itself");
        assert_eq!(UrlState::first_impression(&examples[..2], "base"), None);
    }

    #[test]
    fn unknown_values_take_defaults() {
        let s = UrlState::from_query("lang=x%3Cb%3E&view=admin&hm=evil&q=%ZZ%4&size=huge&mode=gpu");
        assert_eq!((s.lang.as_str(), s.view.as_str(), s.hm.as_str(), s.size.as_str(), s.mode.as_str()), ("en", "search", "", "", ""));
        assert_eq!(s.q, "%ZZ%4", "malformed escapes stay literal");
        assert_eq!(UrlState::from_query("q=").q, "");
        let long = format!("q={}", "ab".repeat(100_000));
        let s = UrlState::from_query(&long);
        assert_eq!((s.q.chars().count(), s.q_cut), (MAX_QUERY_CHARS, 200_000 - MAX_QUERY_CHARS));
    }
}
