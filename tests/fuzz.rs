//! Fuzzing and property tests of every reader of user- or file-supplied input: the model files
//! (E5S1, delta checkpoints and their manifests), the web bundle (asset manifest, int8 pools,
//! word-table shards), the datasets (SQuAD-R, MKQA), the tokenizer front end, the page's URL and
//! the page <-> worker messages. The property is always the same: a typed error that names the
//! file (or field), or a correct result; never a panic.
//!
//! Each target runs a bounded number of cases (`FUZZ_CASES`, default below: about 30 s in all
//! under `cargo test --release`); `scripts/fuzz` runs them longer and writes the counts to
//! `results/fuzz.json`. Cases are drawn from a fixed seed per target unless `FUZZ_SEED` is set,
//! so a CI failure reproduces. Regressions found by fuzzing are kept as named tests at the end.

mod common;

use std::io::Write;
use std::time::Instant;

use common::{tiny_config, tiny_file, tiny_weights};
use hybrid_ir::assets::reproduce::{bundle_task, figures, score, verdict, Mode, Size, TaskQuery};
use hybrid_ir::assets::{decode_int8, encode_int8, engine, AssetManifest, PoolTexts, WordShards};
use hybrid_ir::model::{apply_delta, parse_e5s1, parse_manifest, prune_checkpoint, write_delta, Checkpoint, ModelError, Vocab};
use hybrid_ir::sources::{parse_official, parse_squad_r, read_mia_rows, sentence_breaks};
use hybrid_ir::tokenize::{Role, TextTokenizer};
use hybrid_ir::web::protocol::{Request, MAX_EMBED_TEXTS, MAX_K, MAX_MATRIX_QUERIES};
use hybrid_ir::web::protocol::BackendChoice;
use hybrid_ir::web::url::{UrlState, MAX_QUERY_CHARS};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

/// Runs `test` on `default_cases` (or `FUZZ_CASES`) values of `strategy`; prints and records
/// the count. Panics inside `test` are failures (proptest catches them and shrinks the input).
fn fuzz<S: Strategy>(name: &str, default_cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let cases = std::env::var("FUZZ_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(default_cases);
    let seed: u64 = std::env::var("FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed);
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    for (i, b) in name.bytes().enumerate() {
        key[8 + i % 24] ^= b;
    }
    let config = Config { cases, failure_persistence: None, max_shrink_iters: 2000, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &key));
    let t0 = Instant::now();
    if let Err(e) = runner.run(&strategy, test) {
        panic!("fuzz target {name} failed: {e}");
    }
    record(name, cases as u64, t0.elapsed().as_secs_f64());
}

/// Appends `{target, cases, seconds}` to `$FUZZ_REPORT` (scripts/fuzz collects them).
fn record(name: &str, cases: u64, seconds: f64) {
    eprintln!("fuzz {name}: {cases} cases in {seconds:.1} s");
    if let Some(path) = std::env::var_os("FUZZ_REPORT") {
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(f, "{}", serde_json::json!({"target": name, "cases": cases, "seconds": seconds}));
        }
    }
}

/// Byte edits of a valid file: `(position, new value)` pairs, and optionally a cut.
fn mutations(len: usize) -> impl Strategy<Value = (Vec<(usize, u8)>, Option<usize>)> {
    (prop::collection::vec((0..len, any::<u8>()), 1..8), prop::option::of(0..len))
}

fn mutate(bytes: &[u8], edits: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for &(p, v) in edits {
        b[p] = v;
    }
    if let Some(c) = cut {
        b.truncate(c);
    }
    b
}

/// Text edits of a valid JSON document: replace, insert or delete characters.
fn text_mutations() -> impl Strategy<Value = Vec<(prop::sample::Index, u8, char)>> {
    prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, prop::char::any()), 1..6)
}

fn mutate_text(text: &str, edits: &[(prop::sample::Index, u8, char)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for (at, op, c) in edits {
        if chars.is_empty() {
            break;
        }
        let i = at.index(chars.len());
        match op {
            0 => chars[i] = *c,
            1 => chars.insert(i, *c),
            _ => {
                chars.remove(i);
            }
        }
    }
    chars.into_iter().collect()
}

// ---- model files ----------------------------------------------------------------------------

/// After a successful parse the weights must validate or fail with a typed error.
fn check_e5s1(bytes: &[u8]) -> Result<(), TestCaseError> {
    match parse_e5s1(bytes, "fuzz.bin") {
        Ok((config, weights)) => {
            if weights.validate(&config, "fuzz.bin").is_ok() {
                prop_assert!(weights.word_table(&config).is_some());
            }
        }
        Err(e) => prop_assert!(e.to_string().contains("fuzz.bin"), "error does not name the file: {e}"),
    }
    Ok(())
}

#[test]
fn fuzz_e5s1_reader() {
    let (_, _, good) = tiny_file();
    fuzz("e5s1 mutated", 20000, mutations(good.len()), |(edits, cut)| check_e5s1(&mutate(&good, &edits, cut)));
    fuzz("e5s1 arbitrary", 10000, prop::collection::vec(any::<u8>(), 0..600), |mut b| {
        if b.len() >= 4 {
            b[..4].copy_from_slice(b"E5S1");
        }
        check_e5s1(&b)
    });
}

/// Sets every byte position of `good` to 0x00, 0xFF and its flipped value in turn, and runs
/// `check` on each variant: an exhaustive sweep instead of a random sample.
fn every_byte(name: &str, good: &[u8], check: impl Fn(&[u8]) -> Result<(), TestCaseError>) {
    let t0 = Instant::now();
    let mut runs = 0u64;
    for pos in 0..good.len() {
        for v in [0x00, 0xFF, good[pos] ^ 0x80] {
            let mut b = good.to_vec();
            b[pos] = v;
            check(&b).unwrap_or_else(|e| panic!("{name}: byte {pos} = {v:#04x}: {e}"));
            runs += 1;
        }
    }
    record(name, runs, t0.elapsed().as_secs_f64());
}

/// Every byte position of a small E5S1 file.
#[test]
fn e5s1_every_byte_position_mutated() {
    every_byte("e5s1 every byte", &tiny_file().2, check_e5s1);
}

fn tiny_base() -> Checkpoint {
    let (config, weights, _) = tiny_file();
    Checkpoint { config, weights, sha256: "base".into(), source: "tiny".into() }
}

/// A delta of both tiny layers (f16), as training writes it.
fn tiny_delta() -> Vec<u8> {
    let config = tiny_config();
    let weights = tiny_weights(&config, false);
    let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = config
        .tensor_shapes()
        .into_iter()
        .filter(|(n, _)| n.starts_with('l'))
        .map(|(n, s)| {
            let v = weights.get(&n).unwrap().to_f32();
            (n, s, v)
        })
        .collect();
    write_delta(&tensors).unwrap()
}

fn check_delta(base: &Checkpoint, bytes: &[u8]) -> Result<(), TestCaseError> {
    match apply_delta(base, bytes, "fuzz.safetensors") {
        Ok((ckpt, layers)) => {
            prop_assert!(!layers.is_empty() && layers.iter().all(|&l| l < base.config.num_layers));
            // A delta that applies gives weights the model accepts, or a typed error.
            let _ = ckpt.weights.validate(&ckpt.config, "fuzz");
        }
        Err(e) => prop_assert!(e.to_string().contains("fuzz.safetensors"), "error does not name the file: {e}"),
    }
    Ok(())
}

#[test]
fn fuzz_delta_reader() {
    let base = tiny_base();
    let good = tiny_delta();
    check_delta(&base, &good).unwrap();
    assert!(apply_delta(&base, &good, "d").is_ok(), "the unmutated delta must apply");
    fuzz("delta mutated", 20000, mutations(good.len()), |(edits, cut)| check_delta(&base, &mutate(&good, &edits, cut)));
    fuzz("delta arbitrary", 5000, prop::collection::vec(any::<u8>(), 0..400), |mut b| {
        // A plausible header length so the parser reaches its JSON header.
        if b.len() >= 8 {
            let n = (b.len() as u64).saturating_sub(8);
            b[..8].copy_from_slice(&n.to_le_bytes());
        }
        check_delta(&base, &b)
    });
}

/// Every byte position of a delta checkpoint (its JSON header and its f16 payload).
#[test]
fn delta_every_byte_position_mutated() {
    let base = tiny_base();
    every_byte("delta every byte", &tiny_delta(), |b| check_delta(&base, b));
}

#[test]
fn fuzz_delta_manifest() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/models/sweep/alpha-0.5-seed-1/manifest.json"))
        .expect("a committed checkpoint manifest");
    parse_manifest(&text, "m.json").expect("the committed manifest parses");
    fuzz("delta manifest", 20000, text_mutations(), |edits| {
        if let Err(e) = parse_manifest(&mutate_text(&text, &edits), "m.json") {
            prop_assert!(matches!(e, ModelError::Format { .. }) && e.to_string().contains("m.json"), "{e}");
        }
        Ok(())
    });
}

/// A Hugging Face config.json (what `import` reads first): any edit parses or is a Format error
/// naming the file, never a panic.
#[test]
fn fuzz_hf_config() {
    // multilingual-e5-small's config.json, as Hugging Face ships it.
    let text = r#"{"architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "hidden_size": 384, "initializer_range": 0.02, "intermediate_size": 1536,
        "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert", "num_attention_heads": 12,
        "num_hidden_layers": 12, "pad_token_id": 0, "position_embedding_type": "absolute", "torch_dtype": "float32",
        "type_vocab_size": 2, "use_cache": true, "vocab_size": 250037}"#;
    hybrid_ir::model::parse_hf_config(text, "config.json").expect("the sample config parses");
    fuzz("hf config", 20000, text_mutations(), |edits| {
        if let Err(e) = hybrid_ir::model::parse_hf_config(&mutate_text(text, &edits), "config.json") {
            prop_assert!(e.to_string().contains("config.json"), "{e}");
        }
        Ok(())
    });
}

/// The sweep's checkpoints manifest (what `web-assets --sweep DIR` reads): an edit parses or is
/// an error naming the file.
#[test]
fn fuzz_checkpoints_manifest() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/models/sweep/manifest.json")).expect("the committed manifest");
    <hybrid_ir::sweep::CheckpointsManifest as hybrid_ir::sweep::Versioned>::parse(&text, "m/manifest.json").expect("the committed manifest parses");
    fuzz("checkpoints manifest", 20000, text_mutations(), |edits| {
        if let Err(e) = <hybrid_ir::sweep::CheckpointsManifest as hybrid_ir::sweep::Versioned>::parse(&mutate_text(&text, &edits), "m/manifest.json") {
            prop_assert!(e.to_string().contains("m/manifest.json"), "{e}");
        }
        Ok(())
    });
}

// ---- web bundle -----------------------------------------------------------------------------

fn tiny_manifest() -> String {
    let words = WordShards { dir: "words".into(), rows: 250_002, rows_per_shard: 2048, row_bytes: 216, sha256: vec!["ab".into(); 123] };
    serde_json::json!({
        "schema": "hybrid-ir/web-assets", "version": 2, "git_commit": "c", "created_unix": 1,
        "base_sha256": "b", "model": {"path": "model.bin", "sha256": "s", "bytes": 10},
        "words": words, "tokenizer": {"path": "tokenizer.json.gz", "sha256": "t", "bytes": 5},
        "models": [{"name": "base", "alpha": null, "seed": null, "sha256": "b", "delta": null, "delta_manifest": null,
                    "pools": {"mkqa": {"path": "p.i8", "sha256": "p", "bytes": 3}}}],
        "default_model": "base", "pools": [{"name": "mkqa", "title": "MKQA", "texts": {"path": "t.json", "sha256": "x", "bytes": 1}, "count": 3, "langs": ["en"]}],
        "examples": {"path": "e.json", "sha256": "e", "bytes": 1}, "results": null,
        "compression": {"unk_rate": {}, "map_native": {}, "map_browser": {}, "first_query_shard_bytes": 0.0},
        "data": [], "pool_limit": null
    })
    .to_string()
}

#[test]
fn fuzz_asset_manifest_and_word_shards() {
    let text = tiny_manifest();
    serde_json::from_str::<AssetManifest>(&text).expect("the sample manifest parses");
    fuzz("asset manifest", 20000, text_mutations(), |edits| {
        if let Ok(m) = serde_json::from_str::<AssetManifest>(&mutate_text(&text, &edits)) {
            // Whatever numbers a manifest holds, the shard arithmetic must not wrap or panic.
            let w = &m.words;
            let _ = (w.total_bytes(), w.shard_of(u32::MAX), w.first_row(usize::MAX));
            for i in [0, 1, w.sha256.len().saturating_sub(1), w.sha256.len(), usize::MAX] {
                if let Some(e) = w.entry(i) {
                    prop_assert!(i < w.sha256.len() && e.bytes <= w.total_bytes());
                }
            }
        }
        Ok(())
    });
    fuzz(
        "word shard arithmetic",
        20000,
        (any::<usize>(), any::<usize>(), any::<usize>(), any::<u32>(), any::<usize>()),
        |(rows, per, row_bytes, id, i)| {
            let w = WordShards { dir: "w".into(), rows, rows_per_shard: per, row_bytes, sha256: vec![String::new(); 4] };
            let _ = (w.shard_of(id), w.first_row(i), w.total_bytes(), w.entry(i % 6));
            Ok(())
        },
    );
}

#[test]
fn fuzz_int8_pool_decoder() {
    fuzz("int8 pool arbitrary", 20000, prop::collection::vec(any::<u8>(), 0..300), |mut b| {
        if b.len() >= 4 && b[0] % 2 == 0 {
            b[..4].copy_from_slice(b"HIE8");
        }
        match decode_int8(&b, "pool.i8") {
            Ok((values, dim)) => {
                let rows = u32::from_le_bytes(b[4..8].try_into().unwrap()) as usize;
                prop_assert_eq!(values.len(), rows * dim);
            }
            Err(e) => prop_assert!(e.contains("pool.i8"), "{e}"),
        }
        Ok(())
    });
    fuzz(
        "int8 pool round trip",
        5000,
        (1usize..40).prop_flat_map(|dim| (Just(dim), prop::collection::vec(-4.0f32..4.0, dim..dim * 20))),
        |(dim, mut data)| {
            data.truncate(data.len() / dim * dim);
            let (back, d) = decode_int8(&encode_int8(&data, dim), "p").map_err(TestCaseError::fail)?;
            prop_assert_eq!(d, dim);
            for (r, row) in data.chunks(dim).enumerate() {
                let step = row.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
                for (c, v) in row.iter().enumerate() {
                    prop_assert!((back[r * dim + c] - v).abs() <= step * 0.5 + 1e-6);
                }
            }
            Ok(())
        },
    );
}

#[test]
fn fuzz_word_table_shards() {
    // The page's start: a table of the special tokens only, taking shards as queries need them.
    let trunk = prune_checkpoint(&tiny_base(), &Vocab::new(40, [])).unwrap();
    let specials = trunk.weights.word_table(&trunk.config).unwrap();
    let row_bytes = 18;
    fuzz("word table insert_rows", 20000, (prop_oneof![0u32..64, any::<u32>()], 0usize..50, any::<u8>(), prop::collection::vec(any::<u32>(), 0..10)), |(first, rows, fill, ids)| {
        let mut table = specials.clone().with_vocab(Vocab::new(40, [])).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Sometimes a whole number of rows, sometimes not.
        let len = rows * row_bytes + (fill as usize).is_multiple_of(3) as usize;
        let before = table.rows();
        match table.insert_rows(first, &vec![fill; len]) {
            Ok(()) => prop_assert!(table.rows() >= before && table.rows() <= 40),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        let mut out = Vec::new();
        table.gather_into(&ids, &mut out);
        prop_assert_eq!(out.len(), ids.len() * 32);
        Ok(())
    });
}

// ---- datasets -------------------------------------------------------------------------------

const SQUAD_R: &str = r#"{"data":[{"title":"t","paragraphs":[{"context":"Ion a venit. Apoi a plecat!","sentences":["Ion a venit.","Apoi a plecat!"],
"sentence_breaks":[[0,13],[13,27]],"qas":[{"id":"q1","question":"Cine?","answers":[{"answer_start":0,"text":"Ion"}]},
{"id":"q2","question":"Apoi?","answers":[{"answer_start":18,"text":"plecat"}]}]}]}]}"#;

#[test]
fn fuzz_squad_r_reader() {
    parse_squad_r(SQUAD_R.as_bytes(), "ro", "ro.json", true).expect("the sample parses");
    fuzz("squad-r mutated", 20000, (text_mutations(), any::<bool>()), |(edits, require)| {
        match parse_squad_r(mutate_text(SQUAD_R, &edits).as_bytes(), "ro", "ro.json", require) {
            Ok(f) => {
                for p in f.articles.iter().flat_map(|a| &a.paragraphs) {
                    for q in &p.questions {
                        if let Some(s) = q.answer_sentence {
                            prop_assert!(s < p.breaks.len());
                        }
                    }
                }
            }
            Err(e) => prop_assert!(e.to_string().contains("ro.json"), "{e}"),
        }
        Ok(())
    });
    fuzz("sentence splitter", 20000, ".{0,200}", |text| {
        let n = text.chars().count();
        let b = sentence_breaks(&text);
        prop_assert!(!b.is_empty() && b[0].0 == 0 && b.last().unwrap().1 == n);
        prop_assert!(b.windows(2).all(|w| w[0].1 == w[1].0 && w[0].0 < w[0].1));
        Ok(())
    });
}

const MIA: &str = "{\"id\":\"7_en\",\"lang\":\"en\",\"question\":\"Who?\",\"answers\":[\"Ion\"]}\n{\"id\":\"7_de\",\"lang\":\"de\",\"question\":\"Wer?\",\"answers\":null}\n";
const OFFICIAL: &str = "{\"example_id\": 7, \"queries\": {\"en\": \"Who?\", \"de\": \"Wer?\"}, \"answers\": {\"en\": [{\"type\": \"entity\", \"text\": \"Ion\"}], \"de\": [{\"type\": \"unanswerable\", \"text\": null}]}}\n";

#[test]
fn fuzz_mkqa_readers() {
    assert_eq!(read_mia_rows(MIA.as_bytes(), "mia.jsonl").unwrap().len(), 2);
    assert_eq!(parse_official(OFFICIAL.as_bytes(), "mkqa.jsonl", false).unwrap().len(), 1);
    fuzz("mkqa mia mutated", 20000, text_mutations(), |edits| {
        if let Err(e) = read_mia_rows(mutate_text(MIA, &edits).as_bytes(), "mia.jsonl") {
            prop_assert!(e.to_string().contains("mia.jsonl"), "{e}");
        }
        Ok(())
    });
    fuzz("mkqa official mutated", 20000, (text_mutations(), any::<bool>()), |(edits, gzip)| {
        if let Err(e) = parse_official(mutate_text(OFFICIAL, &edits).as_bytes(), "mkqa.jsonl", gzip) {
            prop_assert!(e.to_string().contains("mkqa.jsonl"), "{e}");
        }
        Ok(())
    });
    fuzz("mkqa arbitrary bytes", 10000, prop::collection::vec(any::<u8>(), 0..200), |b| {
        let _ = read_mia_rows(&b, "x");
        let _ = parse_official(&b, "x", b.first().is_some_and(|c| c % 2 == 0));
        Ok(())
    });
}

// ---- tokenizer front end --------------------------------------------------------------------

fn tokenizer() -> TextTokenizer {
    let path = common::model_dir().join("tokenizer.json");
    TextTokenizer::from_file(&path).unwrap_or_else(|e| panic!("{e} (run scripts/fetch-model)"))
}

fn check_ids(ids: &[u32], max_len: usize) -> Result<(), TestCaseError> {
    prop_assert!(ids.len() >= 3 && ids.len() <= max_len, "{} ids", ids.len());
    prop_assert_eq!(ids[0], 0);
    prop_assert_eq!(*ids.last().unwrap(), 2);
    Ok(())
}

#[test]
fn fuzz_tokenizer_front_end() {
    let tok = tokenizer();
    let vocab = tok.vocab_size() as u32;
    // Arbitrary Unicode (control characters, combining marks, private use), and bytes that are
    // not UTF-8 read the way the CLI reads lines (lossy).
    fuzz("tokenizer unicode", 10000, (".{0,300}", 3usize..130), |(text, max_len)| {
        let (ids, _) = tok.encode(&text, Role::Query, max_len).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(ids.iter().all(|&i| i < vocab));
        check_ids(&ids, max_len)
    });
    fuzz("tokenizer bytes", 10000, prop::collection::vec(any::<u8>(), 0..300), |b| {
        let text = String::from_utf8_lossy(&b);
        let batch = tok.batch(&[text.as_ref(), ""], Role::Passage, 64).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(batch.ids.len(), batch.batch * batch.len);
        check_ids(&batch.ids[..batch.lengths[0]], 64)
    });
    // Id for id what `tokenizers`' own Unigram gives (ours keeps its order and ties), on arbitrary
    // Unicode and on word-like text, where many pieces overlap.
    let reference = common::reference_tokenizer();
    let same = |text: &str, role: Role| -> Result<(), TestCaseError> {
        let (ids, _) = tok.encode(text, role, usize::MAX).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(ids, common::reference_ids(&reference, text, role), "text {:?}", text);
        Ok(())
    };
    fuzz("tokenizer vs tokenizers, unicode", 5000, ".{0,200}", |text| same(&text, Role::Query));
    fuzz("tokenizer vs tokenizers, words", 5000, "([a-zäöüéçñ]{1,12}[ ,.?-]{0,2}|[ぁ-んァ-ン一-龥]{1,6}|[а-я]{1,10} ?){0,30}", |text| {
        same(&text, Role::Passage)
    });
    fuzz("tokenizer.json arbitrary", 2000, prop::collection::vec(any::<u8>(), 0..200), |b| {
        prop_assert!(TextTokenizer::from_bytes(&b, "tok.json").is_err());
        Ok(())
    });
    // Lines of 1 MB: cut to max_len, the end token kept.
    let t0 = Instant::now();
    for unit in ["a", "日本語 ", "\u{0}\u{7}\t", "\u{202e}ab\u{0301}"] {
        let text = unit.repeat(1_000_000 / unit.len());
        let (ids, cut) = tok.encode(&text, Role::Query, 64).unwrap();
        assert!(cut);
        check_ids(&ids, 64).unwrap();
    }
    record("tokenizer 1 MB lines", 4, t0.elapsed().as_secs_f64());
    assert!(tok.encode("x", Role::Query, 2).is_err(), "max_len below 3 is an error");
}

// ---- the page: URL and worker messages ------------------------------------------------------

#[test]
fn fuzz_url_parameters() {
    fuzz("url arbitrary", 30000, ".{0,400}", |query| {
        let s = UrlState::from_query(&query);
        prop_assert!(s.q.chars().count() <= MAX_QUERY_CHARS);
        prop_assert!(["search", "charts", "bias"].contains(&s.view.as_str()));
        prop_assert!(s.hm.is_empty() || s.hm == "delta");
        prop_assert!((2..=10).contains(&s.lang.len()));
        // What it writes back parses to itself (the cut is said once, not carried on).
        prop_assert_eq!(UrlState { q_cut: 0, ..UrlState::from_query(&s.to_query()) }, UrlState { q_cut: 0, ..s });
        Ok(())
    });
    fuzz("url round trip", 20000, (".{0,120}", "[a-z_]{2,10}", ".{0,30}", ".{0,30}", 0usize..3, any::<bool>(), 0usize..3, ".{0,30}"), |(q, lang, model, cmp, view, delta, backend, question)| {
        let mut s = UrlState::from_query("");
        (s.q, s.lang, s.model, s.cmp, s.question) = (q, lang, model, cmp, question);
        s.backend = [BackendChoice::Auto, BackendChoice::Cpu, BackendChoice::WebGpu][backend];
        s.view = ["search", "charts", "bias"][view].into();
        s.hm = if delta { "delta" } else { "" }.into();
        prop_assert_eq!(UrlState::from_query(&s.to_query()), s);
        Ok(())
    });
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,20}".prop_map(serde_json::Value::from),
        prop_oneof![Just("Search"), Just("Load"), Just("Matrix"), Just("Reproduce"), Just("Cancel"), Just("Embed"), Just("query"), Just("passage"), Just("sample"), Just("whole"), Just("shipped"), Just("scratch"), Just("queries"), Just("id"), Just("k"), Just("relevant"), Just("query")].prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![Just("Search".to_string()), Just("Load".to_string()), Just("Matrix".to_string()), Just("Reproduce".to_string()), Just("Cancel".to_string()), Just("Embed".to_string()), Just("texts".into()), Just("role".into()), Just("task".into()), Just("size".into()), Just("mode".into()), Just("queries".into()), Just("id".into()), Just("model".into()), Just("pool".into()), Just("query".into()), Just("k".into()), Just("relevant".into()), ".{0,6}"],
                inner,
                0..7
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn fuzz_worker_messages() {
    fuzz("worker request json", 30000, json_value(), |v| {
        if let Ok(req) = serde_json::from_value::<Request>(v) {
            match req.bounded() {
                Ok((Request::Search { query, k, .. }, _)) => prop_assert!(query.chars().count() <= MAX_QUERY_CHARS && k <= MAX_K),
                Ok((Request::Matrix { queries, .. }, _)) => {
                    prop_assert!((1..=MAX_MATRIX_QUERIES).contains(&queries.len()));
                    prop_assert!(queries.iter().all(|(_, q)| q.chars().count() <= MAX_QUERY_CHARS));
                }
                Ok((Request::Embed { texts, .. }, _)) => {
                    prop_assert!((1..=MAX_EMBED_TEXTS).contains(&texts.len()));
                    prop_assert!(texts.iter().all(|t| t.chars().count() <= MAX_QUERY_CHARS));
                }
                _ => {}
            }
        }
        Ok(())
    });
    fuzz("worker search request", 20000, (any::<u64>(), ".{0,2000}", any::<usize>(), prop::collection::vec(any::<u32>(), 0..20)), |(id, query, k, relevant)| {
        let chars = query.chars().count();
        let req = Request::Search { id, model: "m".into(), pool: "p".into(), query, k, relevant };
        let (bounded, cut) = req.bounded().map_err(TestCaseError::fail)?;
        let Request::Search { query, k, .. } = bounded else { unreachable!() };
        prop_assert_eq!(query.chars().count() + cut, chars);
        prop_assert!(k <= MAX_K);
        Ok(())
    });
    fuzz("worker matrix request", 5000, prop::collection::vec((".{0,12}", ".{0,700}"), 0..40), |queries| {
        let n = queries.len();
        let req = Request::Matrix { id: 1, model: "m".into(), pool: "p".into(), queries: queries.clone(), relevant: vec![1] };
        match req.bounded() {
            Ok((Request::Matrix { queries: bounded, .. }, _)) => {
                prop_assert!((1..=MAX_MATRIX_QUERIES).contains(&n));
                for ((_, q), (_, b)) in queries.iter().zip(&bounded) {
                    prop_assert_eq!(b.chars().count(), q.chars().count().min(MAX_QUERY_CHARS));
                    prop_assert!(q.starts_with(b.as_str()));
                }
            }
            Ok(_) => prop_assert!(false, "a matrix request came back as another request"),
            Err(e) => prop_assert!(n == 0 || n > MAX_MATRIX_QUERIES, "{e}"),
        }
        Ok(())
    });
    // A question's matrix from what the page sends and the bundle holds: an error for any
    // inconsistency (never a trap), else one row per version with ranks inside the pool.
    fuzz(
        "language matrix",
        20000,
        (1usize..4, prop::collection::vec(-1.0f32..1.0, 0..12), prop::collection::vec(-1.0f32..1.0, 0..40), prop::collection::vec(0u16..4, 0..14), 0usize..5, prop::collection::vec(0u32..16, 0..5)),
        |(n_q, queries, vectors, langs, n_names, relevant)| {
            let q_langs: Vec<String> = (0..n_q).map(|i| format!("l{i}")).collect();
            let names: Vec<String> = (0..n_names).map(|i| format!("l{i}")).collect();
            let question = engine::MatrixQuestion { queries: &queries, query_langs: &q_langs, vectors: &vectors, langs: &langs, lang_names: &names, relevant: &relevant };
            match question.matrix() {
                Ok(m) => {
                    let rows = vectors.len() / (queries.len() / n_q);
                    prop_assert_eq!(m.ranks.len(), n_q);
                    prop_assert!(m.ranks.iter().flatten().flatten().all(|&r| r >= 1 && r <= rows));
                    prop_assert!(m.answer_langs.iter().all(|a| names.contains(a)));
                    // Its float band holds every cell: low <= rank <= high.
                    let (low, high) = question.band(0.05).unwrap();
                    let cells = |m: &hybrid_ir::metrics::LanguageMatrix| m.ranks.iter().flatten().copied().collect::<Vec<_>>();
                    for ((l, r), h) in cells(&low).into_iter().zip(cells(&m)).zip(cells(&high)) {
                        prop_assert!(l <= r && r <= h, "{:?} <= {:?} <= {:?}", l, r, h);
                    }
                }
                Err(e) => prop_assert!(!e.is_empty()),
            }
            Ok(())
        },
    );
    // The ranking the worker runs on what the page sends (relevant ids) and what the bundle
    // holds (vectors, languages): an error for any inconsistency, else ranks within the pool.
    fuzz(
        "worker rank",
        20000,
        (1usize..6, prop::collection::vec(-1.0f32..1.0, 0..60), prop::collection::vec(0u16..4, 0..14), 0usize..5, prop::collection::vec(0u32..16, 0..5), 0usize..20),
        |(dim, vectors, langs, n_langs, relevant, k)| {
            let query = vec![0.5; dim];
            match engine::rank(&query, &vectors, &langs, n_langs, &relevant, k) {
                Ok(r) => {
                    let rows = vectors.len() / dim;
                    prop_assert!(r.top_multi.len() <= k.min(rows));
                    prop_assert!(r.relevant.iter().all(|x| x.multi >= 1 && x.multi <= rows && x.in_lang <= x.multi));
                }
                Err(e) => prop_assert!(!e.is_empty()),
            }
            Ok(())
        },
    );
    // A reproduction from what the bundle holds (a task's queries and a pool): the task is
    // rebuilt or refused, then ranked, scored and summarised as in the worker; never a trap.
    let device = hybrid_ir::encoder::BackendKind::Flex.device().unwrap();
    fuzz(
        "reproduce task",
        3000,
        // Versions unique and answers ascending, as a bundle writes them (the unit tests cover
        // the refusals); answer ids may point outside the pool.
        (prop::collection::btree_map((0u8..6, 0u8..3), prop::collection::btree_set(0u32..12, 0..4), 0..18), prop::collection::vec(0u8..3, 0..10), any::<bool>(), any::<u64>()),
        |(queries, pool_langs, sample, seed)| {
            let pool = PoolTexts {
                ids: (0..pool_langs.len()).map(|i| format!("c{i:02}")).collect(),
                langs: pool_langs.iter().map(|l| format!("l{l}")).collect(),
                texts: (0..pool_langs.len()).map(|i| format!("t{i}")).collect(),
            };
            let queries: Vec<TaskQuery> = queries
                .into_iter()
                .map(|((q, l), relevant)| TaskQuery { qid: format!("q{q}"), lang: format!("l{l}"), text: format!("q{q} in l{l}"), relevant: relevant.into_iter().collect() })
                .collect();
            let size = if sample { Size::Sample } else { Size::Whole };
            let task = match bundle_task("mkqa", &queries, &pool, size) {
                Ok(t) => t,
                Err(e) => {
                    let mut versions: Vec<(&String, &String)> = queries.iter().map(|q| (&q.qid, &q.lang)).collect();
                    versions.sort();
                    let repeated = versions.windows(2).any(|w| w[0] == w[1]);
                    let bad_answers = queries.iter().any(|q| q.relevant.iter().any(|&r| r as usize >= pool.len()) || q.relevant.windows(2).any(|w| w[0] >= w[1]));
                    prop_assert!(repeated || bad_answers, "refused a valid task: {e}");
                    return Ok(());
                }
            };
            let dim = 4;
            let mut x = seed | 1;
            let mut unit = |n: usize| -> Vec<f32> {
                (0..n * dim).map(|_| { x ^= x << 13; x ^= x >> 7; x ^= x << 17; (x % 2001) as f32 / 1000.0 - 1.0 }).collect()
            };
            let (q, p) = (unit(task.queries.len()), unit(task.pool.len()));
            match score(&task, &q, &p, dim, &device) {
                Ok(table) => {
                    let f = figures(&table, None);
                    prop_assert!(f.values.iter().all(|(k, v)| v.is_finite() && (k == "bias" || (0.0..=1.0).contains(v))), "{f:?}");
                    prop_assert!(verdict(&f, &f, Mode::Scratch).iter().all(|c| c.ok || !c.reference.is_finite()));
                }
                Err(e) => prop_assert!(!e.is_empty()),
            }
            Ok(())
        },
    );
    // The page's pool texts: arrays that do not line up are refused.
    fuzz("pool texts", 10000, (0usize..4, 0usize..4, 0usize..4), |(a, b, c)| {
        let t = serde_json::json!({"ids": vec!["i"; a], "langs": vec!["en"; b], "texts": vec!["t"; c]}).to_string();
        let r = PoolTexts::from_json(t.as_bytes(), "pool.json");
        prop_assert_eq!(r.is_ok(), a == c && b == c);
        Ok(())
    });
}

#[test]
fn an_embed_request_is_bounded() {
    let embed = |n: usize, chars: usize| Request::Embed { id: 1, model: "m".into(), texts: vec!["é".repeat(chars); n], role: Role::Passage }.bounded();
    assert!(embed(0, 5).unwrap_err().contains("1 to"));
    assert!(embed(MAX_EMBED_TEXTS + 1, 5).unwrap_err().contains("1 to"));
    let Ok((Request::Embed { texts, role, .. }, _)) = embed(MAX_EMBED_TEXTS, MAX_QUERY_CHARS + 3) else { panic!("a full embed request refused") };
    assert_eq!((texts.len(), role), (MAX_EMBED_TEXTS, Role::Passage));
    assert!(texts.iter().all(|t| t.chars().count() == MAX_QUERY_CHARS));
}

#[test]
fn a_checkpoint_message_over_the_limit_is_refused() {
    let limit = hybrid_ir::assets::MAX_CHECKPOINT_BYTES as usize;
    let add = |layers: usize| Request::AddCheckpoint { id: 1, manifest: vec![b'{'; 10], layers: vec![0; layers], pool: "mkqa".into() }.bounded();
    assert!(add(limit - 10).is_ok());
    assert!(add(limit - 9).unwrap_err().contains("at most"));
    // Bytes travel as bytes: a JSON message with an array of numbers reads back the same.
    let json = serde_json::to_string(&Request::AddCheckpoint { id: 2, manifest: b"{}".to_vec(), layers: vec![1, 2, 255], pool: "p".into() }).unwrap();
    let back: Request = serde_json::from_str(&json).unwrap();
    assert_eq!(back, Request::AddCheckpoint { id: 2, manifest: b"{}".to_vec(), layers: vec![1, 2, 255], pool: "p".into() });
}

// ---- regressions found by fuzzing -----------------------------------------------------------

/// Found by "int8 pool arbitrary": rows x (4 + dim) in 32-bit arithmetic (wasm32) wrapped, so a
/// crafted header passed the length check and the slices trapped. Now computed in u64, checked.
#[test]
fn int8_header_whose_size_overflows_is_refused() {
    let mut b = b"HIE8".to_vec();
    b.extend_from_slice(&u32::MAX.to_le_bytes());
    b.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(decode_int8(&b, "p").unwrap_err().contains("needs"));
    let mut b = b"HIE8".to_vec();
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&[0; 12]);
    assert!(decode_int8(&b, "p").unwrap_err().contains("dimension 0"));
}

/// Found by "word shard arithmetic": shard * rows_per_shard overflowed on huge manifest values.
#[test]
fn word_shard_arithmetic_saturates() {
    let w = WordShards { dir: "w".into(), rows: usize::MAX, rows_per_shard: usize::MAX, row_bytes: usize::MAX, sha256: vec!["x".into(); 3] };
    assert_eq!(w.first_row(2), u32::MAX);
    assert_eq!(w.total_bytes(), u64::MAX);
    assert!(w.entry(2).is_some());
}

/// Found by review of the page's search path: a relevant id beyond the pool indexed the scores.
#[test]
fn relevant_candidate_outside_the_pool_is_an_error() {
    let err = engine::rank(&[1.0, 0.0], &[1.0, 0.0, 0.0, 1.0], &[0, 0], 1, &[7], 5).unwrap_err();
    assert!(err.contains("relevant candidate 7"), "{err}");
    assert!(engine::rank(&[1.0, 0.0], &[1.0, 0.0, 0.0], &[0, 0], 1, &[], 5).is_err(), "ragged index");
    assert!(engine::rank(&[1.0, 0.0], &[1.0, 0.0, 0.0, 1.0], &[0, 3], 1, &[], 5).is_err(), "language out of range");
}

/// Found by review while writing "word table insert_rows": the error for rows past the
/// vocabulary computed `first + n` in u32, which overflows for a shard placed near u32::MAX.
#[test]
fn shard_rows_past_u32_max_are_an_error() {
    let trunk = prune_checkpoint(&tiny_base(), &Vocab::new(40, [])).unwrap();
    let mut table = trunk.weights.word_table(&trunk.config).unwrap().with_vocab(Vocab::new(40, [])).unwrap();
    let err = table.insert_rows(u32::MAX - 1, &[0u8; 18 * 3]).unwrap_err();
    assert!(err.to_string().contains("beyond the 40-token vocabulary"), "{err}");
}
