//! Tasks built from the real data in ../shared/data (or $HYBRID_IR_DATA): counts must equal
//! SOURCES.md; malformed files must fail with file, record and field; and the evaluation driver
//! must behave on known embeddings. No model needed.

use std::path::PathBuf;

use burn::tensor::Device;
use hybrid_ir::report::{evaluate_task, EvalOptions};
use hybrid_ir::sources::{self, SourceError};
use hybrid_ir::tasks::{self, load_task, Candidate, Query, Task, TaskKind};

fn data() -> PathBuf {
    let d = std::env::var_os("HYBRID_IR_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    assert!(d.is_dir(), "data folder {} missing (set HYBRID_IR_DATA)", d.display());
    d
}

#[test]
fn xquad_r_counts_match_sources_md() {
    let t = load_task(TaskKind::XquadR, &data()).unwrap();
    assert_eq!(t.pool.len(), 13_014);
    let expected = [
        ("ar", 1222), ("de", 1276), ("el", 1234), ("en", 1180), ("es", 1215), ("hi", 1244),
        ("ru", 1219), ("th", 852), ("tr", 1167), ("vi", 1209), ("zh", 1196),
    ];
    for (lang, n) in expected {
        assert_eq!(t.pool_count(lang), n, "{lang} candidates");
        assert_eq!(t.query_count(lang), 1190, "{lang} questions");
    }
    // 11 relevant per question (one per language).
    assert!(t.queries.iter().all(|q| q.relevant.len() == 11), "every XQuAD-R question has 11 relevant sentences");
    assert!(!t.checksums.is_empty(), "checksums were verified");
}

#[test]
fn xquad_r_heldout_is_a_third_of_the_articles() {
    let full = load_task(TaskKind::XquadR, &data()).unwrap();
    let held = load_task(TaskKind::XquadRHeldout, &data()).unwrap();
    let files = sources::read_squad_r_dir(&data().join("xquad-r"), true).unwrap();
    assert_eq!(files[0].articles.len(), 48);
    let held_articles = (0..48).filter(|&i| tasks::is_heldout_article(i)).count();
    assert_eq!(held_articles, 16);
    let qids: std::collections::HashSet<&str> = held.queries.iter().map(|q| q.qid.as_str()).collect();
    let expected: usize = files[0]
        .articles
        .iter()
        .enumerate()
        .filter(|(i, _)| tasks::is_heldout_article(*i))
        .map(|(_, a)| a.paragraphs.iter().map(|p| p.questions.len()).sum::<usize>())
        .sum();
    assert_eq!(qids.len(), expected);
    assert!(held.pool.len() < full.pool.len() / 2);
    assert!(held.queries.iter().all(|q| q.relevant.len() == 11));
}

#[test]
fn mlqa_r_counts_match_sources_md() {
    let t = load_task(TaskKind::MlqaR, &data()).unwrap();
    let expected = [
        ("ar", 517, 2545), ("de", 512, 2362), ("en", 1148, 6264), ("es", 500, 1787),
        ("hi", 507, 2426), ("vi", 511, 2828), ("zh", 504, 2322),
    ];
    for (lang, q, p) in expected {
        assert_eq!((t.query_count(lang), t.pool_count(lang)), (q, p), "{lang}");
    }
    assert!(t.queries.iter().all(|q| (2..=4).contains(&q.relevant.len())), "MLQA-R: 2 to 4 relevant");
}

#[test]
fn mkqa_counts_and_answer_pool() {
    let t = load_task(TaskKind::Mkqa, &data()).unwrap();
    assert_eq!(t.langs.len(), 12);
    for l in &t.langs {
        assert_eq!(t.query_count(l), 1758, "{l}");
    }
    // Candidates are distinct normalised strings within a language.
    for l in &t.langs {
        let texts: std::collections::HashSet<&str> =
            t.pool.iter().filter(|c| &c.lang == l).map(|c| c.text.as_str()).collect();
        assert_eq!(texts.len(), t.pool_count(l));
    }
    // SOURCES.md says 11 languages; the files hold 12 (pt is absent, the other 12 are there).
    let c = load_task(TaskKind::MkqaConsistency, &data()).unwrap();
    assert_eq!(c.langs.len(), 12);
    assert!(c.langs.iter().all(|l| c.query_count(l) == 5000));
    assert!(!c.labelled);
}

#[test]
fn official_mkqa_schema_reads_all_26_languages() {
    let qs = sources::read_official(&data().join("mkqa/official-sample/test_mkqa.jsonl.gz")).unwrap();
    assert_eq!(qs.len(), 6);
    assert!(qs.iter().all(|q| q.queries.len() == 26));
    let t = tasks::mkqa_task(&qs);
    assert_eq!(t.langs.len(), 26);
    assert!(t.queries.iter().any(|q| !q.relevant.is_empty()));
}

#[test]
fn malformed_inputs_name_file_record_and_field() {
    let err = sources::read_mia_rows(b"{\"id\": \"1_en\", \"lang\": \"en\", \"question\": \"q\", \"answers\": []}\n{\"id\": \"2_en\", \"question\": \"q\"}\n", "x.jsonl")
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("x.jsonl") && msg.contains("line 2") && msg.contains("`lang`"), "{msg}");
    let err = sources::read_mia_rows(b"{\"id\": \"1_de\", \"lang\": \"en\", \"question\": \"q\"}\n", "y.jsonl").unwrap_err();
    assert!(err.to_string().contains("does not end in _en"), "{err}");
    let err = sources::read_mia_rows(b"not json\n", "z.jsonl").unwrap_err();
    assert!(matches!(err, SourceError::Malformed { ref record, .. } if record == "line 1"), "{err:?}");

    let bad = br#"{"data": [{"title": "t", "paragraphs": [{"context": "abc", "qas": [], "sentences": ["a"], "sentence_breaks": []}]}]}"#;
    let err = sources::parse_squad_r(bad, "en", "en.json", true).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("en.json") && msg.contains("data[0].paragraphs[0]") && msg.contains("sentence_breaks"), "{msg}");
    let bad = br#"{"data": [{"paragraphs": [{"context": "abc", "sentences": ["abc"], "sentence_breaks": [[0,3]], "qas": [{"id": "q", "question": "?", "answers": [{"text": "a"}]}]}]}]}"#;
    let err = sources::parse_squad_r(bad, "en", "en.json", true).unwrap_err();
    assert!(err.to_string().contains("qas[0]") && err.to_string().contains("answer_start"), "{err}");
}

#[test]
fn missing_data_root_is_actionable() {
    let err = load_task(TaskKind::Mkqa, std::path::Path::new("/nonexistent/data")).unwrap_err();
    assert!(err.to_string().contains("HYBRID_IR_DATA"), "{err}");
}

/// A 2-language toy task with hand-placed embeddings: every metric and setting is known.
#[test]
fn evaluation_driver_on_known_embeddings() {
    let cand = |id: &str, lang: &str| Candidate { id: id.into(), lang: lang.into(), text: id.into() };
    let pool = vec![cand("de-0", "de"), cand("de-1", "de"), cand("en-0", "en"), cand("en-1", "en")];
    let query = |qid: &str, lang: &str, rel: Vec<u32>| Query {
        id: format!("{qid}-{lang}"),
        qid: qid.into(),
        lang: lang.into(),
        text: String::new(),
        relevant: rel,
    };
    let task = Task {
        kind: TaskKind::Mkqa,
        langs: vec!["de".into(), "en".into()],
        pool,
        queries: vec![query("a", "en", vec![0, 2]), query("a", "de", vec![0, 2])],
        labelled: true,
        checksums: vec![],
    };
    // 2-d unit vectors: the en query is closest to en-0 then de-1, en-1, de-0.
    let angle = |deg: f32| [deg.to_radians().cos(), deg.to_radians().sin()];
    let pool_emb: Vec<f32> = [angle(80.0), angle(20.0), angle(5.0), angle(40.0)].concat();
    let q_emb: Vec<f32> = [angle(0.0), angle(85.0)].concat();
    let (rep, trec) = evaluate_task(&task, &q_emb, &pool_emb, 2, &Device::flex(), &EvalOptions { trec: true, trec_depth: 0, bootstrap_samples: 50, seed: 3 }, |_| {}).unwrap();
    // en query: multi order en-0(5), de-1(20), en-1(40), de-0(80) -> relevant at 1 and 4.
    let en_multi = rep.multi["en"];
    assert!((en_multi.map - (1.0 + 2.0 / 4.0) / 2.0).abs() < 1e-12, "{en_multi:?}");
    // mono en: en-0 first -> 1; cross en->de: de-0 is second of 2 -> 0.5.
    assert_eq!(rep.mono["en"].map, 1.0);
    assert!((rep.cross["en"]["de"].map - 0.5).abs() < 1e-12);
    // de query at 85 deg: de-0(80) first, then en-1(40), de-1, en-0 -> relevant at 1 and 4.
    assert_eq!(rep.mono["de"].map, 1.0);
    assert!((rep.cross["de"]["en"].map - 0.5).abs() < 1e-12);
    // bias: en query best ranks en 1, de 4 -> 3; own language for both.
    assert_eq!(rep.bias.per_lang["en"], 3.0);
    assert_eq!(rep.bias.own_language["en"], 1.0);
    assert!(rep.robustness.as_ref().unwrap().spread.abs() < 1e-12);
    assert!(trec.files.contains_key("mkqa.cross.en-de") && trec.files.contains_key("mkqa.multi.de"));
    let (run, qrels) = &trec.files["mkqa.multi.en"];
    assert_eq!(run.lines().next().unwrap().split_whitespace().nth(2), Some("en-0"));
    assert_eq!(qrels.lines().count(), 2);
}
