//! Training step time for K trained layers on cached trunk features, batch 32 pairs drawn from
//! 256 training questions (real sentence lengths), each side run as B length-sorted sub-batches,
//! on the CPU (flex) and on wgpu when built with `--features wgpu` and a GPU is present.
//! Anchor: K = 12, B = 1 (full fine-tuning of the transformer stack, one padded batch) in the
//! same run; the table gives each row's speed-up over it, plus one-off trunk cost per text.
//! Rows `KxB`: `2x1` is the step before length bucketing, `2x2` the default.
//!
//!   cargo bench --bench train_step                      # CPU
//!   cargo bench --bench train_step --features wgpu -- wgpu
//!   BENCH_STEPS=8 BENCH_ROWS=2x1,2x2 cargo bench --bench train_step

use std::path::PathBuf;
use std::time::Instant;

use hybrid_ir::encoder::{BackendKind, Encoder, EncoderConfig};
use hybrid_ir::model::Checkpoint;
use hybrid_ir::tokenize::TextTokenizer;
use hybrid_ir::train::{prepare, Run, TrainConfig, TrainEvent};

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let model_dir = std::env::var_os("HYBRID_IR_MODEL_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("models/base"));
    let data = hybrid_ir::sources::data_root(None);
    let backend = match std::env::args().skip(1).find(|a| !a.starts_with('-')).as_deref() {
        Some("wgpu") => BackendKind::Wgpu,
        _ => BackendKind::Flex,
    };
    // `cargo test --all-targets` runs benches without `--bench`: then only a smoke run (K = 1,
    // 2 steps, 8 questions), so the test suite checks the bench works without paying for it.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let steps: usize = std::env::var("BENCH_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(if smoke { 2 } else { 6 });
    let (batch, questions) = if smoke { (4, 8) } else { (32, 256) };
    let rows: Vec<(usize, usize)> = std::env::var("BENCH_ROWS")
        .unwrap_or_else(|_| if smoke { "1x2".into() } else { "12x1,4x2,2x1,2x2,2x4,1x2".into() })
        .split(',')
        .filter_map(|r| {
            let (k, b) = r.split_once('x')?;
            Some((k.parse().ok()?, b.parse().ok()?))
        })
        .collect();
    let base = Checkpoint::load(&model_dir.join("e5-small-q4.bin")).expect("base model: run scripts/fetch-model");
    let tokenizer = TextTokenizer::from_file(&model_dir.join("tokenizer.json")).expect("tokenizer");
    let encoder = Encoder::new(&base, tokenizer, BackendKind::Flex.device().unwrap(), EncoderConfig::new()).unwrap();
    let device = backend.device().expect("backend");
    println!("train step, batch {batch} pairs ({} texts), {steps} timed steps after 1 warm-up, backend {}{}", 2 * batch, backend.name(), if smoke { " (smoke run: use cargo bench)" } else { "" });
    println!("{:>3} {:>3} {:>12} {:>10} {:>12} {:>14}", "K", "B", "step ms", "steps/s", "vs 12x1", "trunk ms/text");
    let mut anchor = None;
    let mut cached: Option<(usize, hybrid_ir::train::Prepared, f64)> = None;
    for (k, buckets) in rows {
        let config = TrainConfig::new()
            .with_train_layers(k)
            .with_steps(steps + 1)
            .with_eval_every(steps + 1)
            .with_valid_batches(1)
            .with_batch_size(batch)
            .with_max_questions(questions)
            .with_length_buckets(buckets);
        if cached.as_ref().is_none_or(|c| c.0 != k) {
            let t0 = Instant::now();
            let prepared = prepare(&encoder, &data, &config, |_| {}).expect("prepare");
            let texts = 2 * (prepared.train.len() + prepared.valid.len()) * prepared.train.langs.len();
            cached = Some((k, prepared, t0.elapsed().as_secs_f64() * 1e3 / texts as f64));
        }
        let (_, prepared, trunk_ms) = cached.as_ref().expect("prepared");
        let trunk_ms = *trunk_ms;
        let out = std::env::temp_dir().join(format!("hybrid-ir-bench-{}-{k}x{buckets}", std::process::id()));
        let run = Run { base: &base, prepared, config: &config, device: device.clone(), out: out.clone(), git_commit: String::new(), snapshots: Vec::new() };
        let mut stamps = Vec::new();
        run.run(|e| {
            if let TrainEvent::Step { .. } = e {
                stamps.push(Instant::now());
            }
        })
        .expect("train");
        std::fs::remove_dir_all(&out).ok();
        let step_ms = (stamps[stamps.len() - 1] - stamps[0]).as_secs_f64() * 1e3 / (stamps.len() - 1) as f64;
        let anchor_ms = *anchor.get_or_insert(step_ms);
        println!("{k:>3} {buckets:>3} {step_ms:>12.0} {:>10.2} {:>11.1}x {trunk_ms:>14.2}", 1e3 / step_ms, anchor_ms / step_ms);
    }
}
