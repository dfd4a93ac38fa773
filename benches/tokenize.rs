//! Our tokenizer (`tokenize::TextTokenizer`: `tokenizers`' pipeline with our own Unigram stage)
//! against the anchor, Hugging Face `tokenizers`' `Tokenizer` on the same `tokenizer.json`, in the
//! same run: heap held after loading and the peak while loading (a counting allocator), load time,
//! and texts/s over MKQA's questions (all MIA languages) and XQuAD's contexts. The ids are checked
//! equal on every text before anything is timed.
//!   cargo bench --bench tokenize [-- --json OUT.json]
//! `cargo test --all-targets` runs it without `--bench`: then a smoke run (the first 2,000
//! questions and 200 contexts, one pass), so the suite checks the bench works without paying for it.
//! Needs scripts/fetch-model and the data folder ($HYBRID_IR_DATA or ../shared/data).

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use hybrid_ir::tokenize::{Role, TextTokenizer};

/// The system allocator, counting live bytes and their high-water mark.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(live, Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= layout.size() {
            let live = LIVE.fetch_add(new_size - layout.size(), Relaxed) + new_size - layout.size();
            PEAK.fetch_max(live, Relaxed);
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Loads with `load`, returning the value, the bytes it holds, the peak over the start, seconds.
fn measure_load<T>(load: impl FnOnce() -> T) -> (T, usize, usize, f64) {
    let start = LIVE.load(Relaxed);
    PEAK.store(start, Relaxed);
    let t0 = Instant::now();
    let value = load();
    let secs = t0.elapsed().as_secs_f64();
    (value, LIVE.load(Relaxed).saturating_sub(start), PEAK.load(Relaxed) - start, secs)
}

/// Texts per second of `encode` over `texts`, best of `passes`.
fn throughput(texts: &[(String, Role)], passes: usize, mut encode: impl FnMut(&str, Role) -> usize) -> f64 {
    (0..passes)
        .map(|_| {
            let t0 = Instant::now();
            let tokens: usize = texts.iter().map(|(t, r)| encode(t, *r)).sum();
            assert!(tokens > texts.len());
            texts.len() as f64 / t0.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

type Texts = Vec<(String, Role)>;

fn texts(data: &std::path::Path) -> (Texts, Texts) {
    let mut queries = Vec::new();
    for split in ["mia-dev", "mia-test"] {
        let dir = data.join("mkqa").join(split);
        let questions = hybrid_ir::sources::read_mia_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        queries.extend(questions.into_iter().flat_map(|q| q.queries.into_values()).map(|t| (t, Role::Query)));
    }
    let dir = data.join("xquad");
    let langs = hybrid_ir::sources::read_squad_r_dir(&dir, false).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let paragraphs = langs.into_iter().flat_map(|l| l.articles).flat_map(|a| a.paragraphs);
    let contexts = paragraphs.map(|p| (p.context, Role::Passage)).collect();
    (queries, contexts)
}

fn main() {
    let json_out = std::env::args().skip_while(|a| a != "--json").nth(1);
    let smoke = !std::env::args().any(|a| a == "--bench");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let model = std::env::var_os("HYBRID_IR_MODEL_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("models/base"));
    let path = model.join("tokenizer.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run scripts/fetch-model)", path.display()));
    let data = hybrid_ir::sources::data_root(None);
    let (mut queries, mut contexts) = texts(&data);
    if smoke {
        queries.truncate(2_000);
        contexts.truncate(200);
    }
    let passes = if smoke { 1 } else { 3 };

    let (anchor, anchor_held, anchor_peak, anchor_secs) = measure_load(|| tokenizers::Tokenizer::from_bytes(&bytes).expect("tokenizers loads"));
    let (ours, ours_held, ours_peak, ours_secs) = measure_load(|| TextTokenizer::from_bytes(&bytes, "tokenizer.json").expect("ours loads"));

    let anchor_ids = |t: &str, r: Role| anchor.encode(format!("{}{t}", r.prefix()), true).expect("tokenizers encodes").get_ids().to_vec();
    for (t, r) in queries.iter().chain(&contexts) {
        assert_eq!(ours.encode(t, *r, usize::MAX).expect("ours encodes").0, anchor_ids(t, *r), "ids differ on {t:?}");
    }
    let rows = [("ours (tokenizers pipeline + own Unigram)", ours_held, ours_peak, ours_secs), ("tokenizers 0.22.2 Tokenizer (anchor)", anchor_held, anchor_peak, anchor_secs)];
    let speed = |set: &[(String, Role)]| {
        [throughput(set, passes, |t, r| ours.encode(t, r, usize::MAX).expect("ours encodes").0.len()), throughput(set, passes, |t, r| anchor_ids(t, r).len())]
    };
    let (q, c) = (speed(&queries), speed(&contexts));
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    println!("tokenizer.json: {} pieces; ids equal on {} MKQA questions and {} XQuAD contexts{}", ours.vocab_size(), queries.len(), contexts.len(), if smoke { " (smoke run: use cargo bench)" } else { "" });
    println!("| tokenizer | heap held MiB | load peak MiB | load s | MKQA questions/s | XQuAD contexts/s |");
    println!("|---|---|---|---|---|---|");
    for (i, (name, held, peak, secs)) in rows.iter().enumerate() {
        println!("| {name} | {:.1} | {:.1} | {secs:.2} | {:.0} | {:.0} |", mib(*held), mib(*peak), q[i], c[i]);
    }
    println!("ours / anchor: heap held {:.3}x, load {:.2}x faster, questions {:.2}x, contexts {:.2}x", ours_held as f64 / anchor_held as f64, anchor_secs / ours_secs, q[0] / q[1], c[0] / c[1]);
    if let Some(out) = json_out.filter(|_| !smoke) {
        let engine = |i: usize| {
            let (name, held, peak, secs) = rows[i];
            serde_json::json!({"tokenizer": name, "heap_held_bytes": held, "load_peak_bytes": peak, "load_s": secs, "mkqa_questions_per_s": q[i], "xquad_contexts_per_s": c[i]})
        };
        let report = serde_json::json!({
            "bench": "tokenize", "commit": option_env!("HYBRID_IR_GIT_COMMIT"), "pieces": ours.vocab_size(),
            "mkqa_questions": queries.len(), "xquad_contexts": contexts.len(), "ids_equal": true,
            "engines": [engine(0), engine(1)],
        });
        std::fs::write(&out, serde_json::to_string_pretty(&report).expect("json")).unwrap_or_else(|e| panic!("{out}: {e}"));
    }
}
