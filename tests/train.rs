//! Training: the pairs respect the held-out split, checkpoints are deltas that load back, and a
//! run killed with SIGKILL resumes to bit-identical weights (the CLI, on a tiny configuration).

mod common;
use common::{data, model_dir};

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hybrid_ir::model::{apply_checked, parse_manifest, Checkpoint, DELTA_MANIFEST, DELTA_WEIGHTS};
use hybrid_ir::tasks::{is_heldout_article, load_task, TaskKind};
use hybrid_ir::train::{hybrid_schedule, read_training_files, split_validation, training_pairs, validation_schedule, Batch, PairSet, STATE_FILE};

#[test]
fn training_pairs_come_from_training_articles_only_in_12_languages() {
    let (files, checksums) = read_training_files(&data()).unwrap();
    let pairs = training_pairs(&files).unwrap();
    assert_eq!(pairs.langs, ["ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"]);
    assert!(checksums.iter().any(|c| c.path.starts_with("xquad/")) && checksums.iter().any(|c| c.path.starts_with("xquad-r/")));
    assert!(pairs.questions.iter().all(|q| !is_heldout_article(q.article)));
    assert_eq!(pairs.articles().len(), 32, "48 articles, 16 held out");
    // No question of the held-out evaluation task appears in training, in any language.
    let held = load_task(TaskKind::XquadRHeldout, &data()).unwrap();
    let held_qids: HashSet<&str> = held.queries.iter().map(|q| q.qid.as_str()).collect();
    assert!(pairs.questions.iter().all(|q| !held_qids.contains(q.qid.as_str())), "held-out question leaked");
    // Nor does any held-out pool sentence serve as a training positive.
    let held_pool: HashSet<&str> = held.pool.iter().map(|c| c.text.as_str()).collect();
    let leaked = pairs.questions.iter().flat_map(|q| &q.texts).filter(|(_, p)| held_pool.contains(p.as_str())).count();
    assert_eq!(leaked, 0, "held-out sentences used as positives");
    // Nearly every question pairs in all 12 languages (Romanian uses our own sentence splitter).
    assert!(pairs.len() > 760, "{} training questions", pairs.len());
    assert!(pairs.questions.iter().all(|q| q.texts.len() == 12 && q.texts.iter().all(|(a, b)| !a.is_empty() && !b.is_empty())));
    let (train, valid) = split_validation(&pairs, 8);
    assert_eq!(valid.articles().len(), 4);
    assert_eq!(train.len() + valid.len(), pairs.len());
    let v: HashSet<usize> = valid.articles().into_iter().collect();
    assert!(train.articles().iter().all(|a| !v.contains(a)), "validation articles are disjoint");
}

/// Positive texts that occur twice in one batch in the same language (each a false negative).
fn repeated_positives(set: &PairSet, batches: &[Batch]) -> usize {
    batches
        .iter()
        .map(|b| {
            let mut seen = HashSet::new();
            b.pairs.iter().filter(|p| !seen.insert((p.positive_lang, set.questions[p.question].texts[p.positive_lang].1.as_str()))).count()
        })
        .sum()
}

#[test]
fn no_batch_shows_a_positive_twice_in_one_language() {
    let (files, _) = read_training_files(&data()).unwrap();
    let pairs = training_pairs(&files).unwrap();
    let (train, valid) = split_validation(&pairs, 8);
    let groups = train.positive_groups();
    let shared = groups.iter().filter(|&&g| groups.iter().filter(|&&h| h == g).count() > 1).count();
    eprintln!("{} of {} training questions share an answer sentence with another", shared, train.len());
    assert!(shared > train.len() / 3, "the data has many shared answer sentences ({shared})");
    let mut sizes = std::collections::BTreeMap::new();
    for g in 0..=*groups.iter().max().unwrap() {
        *sizes.entry(groups.iter().filter(|&&h| h == g).count()).or_insert(0) += 1;
    }
    eprintln!("positive groups by size: {sizes:?}");
    for alpha in [0.0, 0.5, 1.0] {
        let s = hybrid_schedule(&groups, 12, 32, alpha, 300, 1);
        assert_eq!(repeated_positives(&train, &s), 0, "alpha {alpha}: a positive appears twice in a batch");
        // The same schedule with every question its own group is what the old sampler did.
        let naive = hybrid_schedule(&(0..train.len()).collect::<Vec<_>>(), 12, 32, alpha, 300, 1);
        let repeats = repeated_positives(&train, &naive);
        eprintln!("alpha {alpha}: the old sampler repeats {repeats} positives in 300 batches");
        assert!(alpha == 0.0 || repeats > 30, "the check can see repeats");
    }
    let v = validation_schedule(&valid.positive_groups(), 12, 32, 8);
    assert_eq!(repeated_positives(&valid, &v), 0);
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_hybrid-ir")
}

fn tiny_train(out: &Path) -> Command {
    tiny_train_steps(out, 16)
}

fn tiny_train_steps(out: &Path, steps: usize) -> Command {
    let mut c = Command::new(bin());
    c.args(["train", "--alpha", "0.5", "--seed", "7", "--max-questions", "8", "--train-batch-size", "4"])
        .args(["--steps", &steps.to_string(), "--eval-every", "2", "--valid-batches", "2", "--warmup-steps", "2", "--train-layers", "1"])
        .arg("--out")
        .arg(out)
        .arg("--data")
        .arg(data())
        .env("HYBRID_IR_MODEL_DIR", model_dir());
    c
}

fn state_step(dir: &Path) -> Option<usize> {
    let bytes = std::fs::read(dir.join(STATE_FILE)).ok()?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).ok()?;
    let progress = meta.metadata().as_ref()?.get("progress")?.clone();
    serde_json::from_str::<serde_json::Value>(&progress).ok()?["step"].as_u64().map(|s| s as usize)
}

/// Starts `train` and kills it (SIGKILL) as soon as it has saved a resume state in `dir`.
fn kill_once_saved(mut train: Command, dir: &Path) {
    let mut child = train.stderr(Stdio::null()).spawn().unwrap();
    while state_step(dir).is_none() && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().ok();
    child.wait().ok();
}

#[test]
fn a_run_killed_mid_way_resumes_to_identical_weights() {
    let root = std::env::temp_dir().join(format!("hybrid-ir-resume-{}", std::process::id()));
    let (straight, killed) = (root.join("straight"), root.join("killed"));
    std::fs::remove_dir_all(&root).ok();

    let status = tiny_train(&straight).status().unwrap();
    assert!(status.success());
    assert!(!straight.join(STATE_FILE).exists(), "a finished run leaves no resume state");

    // Kill -9 as soon as a resume state exists, i.e. mid-way through the steps.
    let mut killed_at = None;
    for attempt in 0..3 {
        std::fs::remove_dir_all(&killed).ok();
        let mut child = tiny_train(&killed).stderr(std::process::Stdio::null()).spawn().unwrap();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(600) {
            if let Some(step) = state_step(&killed) {
                if step >= 2 + 2 * attempt {
                    child.kill().unwrap(); // SIGKILL
                    break;
                }
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let status = child.wait().unwrap();
        if !status.success() {
            killed_at = state_step(&killed);
            break;
        }
    }
    let killed_at = killed_at.expect("the run was killed before it finished");
    assert!(killed_at < 16, "killed at step {killed_at}");

    let out = tiny_train(&killed).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("resuming"), "the second run resumed");

    let a = std::fs::read(straight.join(DELTA_WEIGHTS)).unwrap();
    let b = std::fs::read(killed.join(DELTA_WEIGHTS)).unwrap();
    assert!(a == b, "resumed weights differ from the uninterrupted run's (killed at step {killed_at})");
    let ma = parse_manifest(&std::fs::read_to_string(straight.join(DELTA_MANIFEST)).unwrap(), "a").unwrap();
    let mb = parse_manifest(&std::fs::read_to_string(killed.join(DELTA_MANIFEST)).unwrap(), "b").unwrap();
    assert!(ma.complete && mb.complete);
    assert_eq!((ma.best_step, ma.best_valid_loss, &ma.history), (mb.best_step, mb.best_valid_loss, &mb.history));
    assert_eq!(ma.layers, vec![11]);

    // A rerun of a finished run is a no-op; the checkpoint evaluates like any model.
    let out = tiny_train(&straight).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("already trained"));
    // A finished manifest without its weights (an unshipped seed in a fresh clone) trains again,
    // to the same bytes.
    std::fs::remove_file(straight.join(DELTA_WEIGHTS)).unwrap();
    let out = tiny_train(&straight).output().unwrap();
    assert!(out.status.success() && !String::from_utf8_lossy(&out.stderr).contains("already trained"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read(straight.join(DELTA_WEIGHTS)).unwrap() == a, "retrained weights differ");
    let pool = root.join("pool.txt");
    std::fs::write(&pool, "Paris est la capitale de la France.\nDer Hund bellt.\n").unwrap();
    let out = Command::new(bin())
        .args(["search", "What is the capital of France?", "--pool"])
        .arg(&pool)
        .arg("--model")
        .arg(&straight)
        .env("HYBRID_IR_MODEL_DIR", model_dir())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().contains("Paris"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A different configuration refuses the other run's state instead of mixing the two. The
    // run is long (400 steps), so it is killed with its first saved state in place.
    std::fs::remove_dir_all(&killed).ok();
    kill_once_saved(tiny_train_steps(&killed, 400), &killed);
    assert!(killed.join(STATE_FILE).exists(), "the killed run left its resume state");
    let out = tiny_train_steps(&killed, 400).args(["--lr", "0.001"]).output().unwrap();
    assert!(!out.status.success(), "another configuration must not resume this state");
    assert!(String::from_utf8_lossy(&out.stderr).contains("different run"), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(&root).ok();
}

/// A resume state written by other training code (here: one marked with the versions of a
/// build before versions were recorded) is not continued: the run starts over and ends with the
/// uninterrupted run's weights.
#[test]
fn a_state_of_other_training_code_restarts_the_run() {
    let root = std::env::temp_dir().join(format!("hybrid-ir-restart-{}", std::process::id()));
    let (straight, old) = (root.join("straight"), root.join("old"));
    std::fs::remove_dir_all(&root).ok();
    assert!(tiny_train(&straight).status().unwrap().success());
    // A state from step 2 onwards, left by a run that is killed.
    kill_once_saved(tiny_train(&old), &old);
    let mut state = hybrid_ir::train::State::load(&old).unwrap().expect("the killed run left its resume state");
    let step = state.progress.step;
    state.progress.code = hybrid_ir::model::CodeVersions { training: hybrid_ir::train::TRAINING_VERSION + 1, ..hybrid_ir::train::CODE_VERSIONS };
    // Its parameters are also moved, so continuing from them would show in the weights.
    state.params.iter_mut().flatten().for_each(|p| *p += 0.5);
    state.save(&old).unwrap();
    let out = tiny_train(&old).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("other training code") && stderr.contains("starting over") && !stderr.contains("resuming"), "{stderr}");
    assert!(step > 0, "the state was saved after some steps");
    let a = std::fs::read(straight.join(DELTA_WEIGHTS)).unwrap();
    assert!(std::fs::read(old.join(DELTA_WEIGHTS)).unwrap() == a, "the restarted run's weights differ from a fresh run's");
    let m = parse_manifest(&std::fs::read_to_string(old.join(DELTA_MANIFEST)).unwrap(), "m").unwrap();
    assert_eq!(m.code, hybrid_ir::train::CODE_VERSIONS, "the checkpoint records the code that made it");
    std::fs::remove_dir_all(&root).ok();
}

/// `--snapshots` keeps the weights at given steps as complete checkpoints without changing the
/// run: the main checkpoint equals a run without them, and a step that is not a validation
/// step is refused before any work.
#[test]
fn snapshots_keep_weights_at_fixed_steps_without_changing_the_run() {
    let root = std::env::temp_dir().join(format!("hybrid-ir-snapshots-{}", std::process::id()));
    let (plain, snap) = (root.join("plain"), root.join("snap"));
    std::fs::remove_dir_all(&root).ok();
    let out = tiny_train(&plain).args(["--patience", "0"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = tiny_train(&snap).args(["--patience", "0", "--snapshots", "8,16"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read(plain.join(DELTA_WEIGHTS)).unwrap() == std::fs::read(snap.join(DELTA_WEIGHTS)).unwrap(), "snapshots changed the run");
    let main = parse_manifest(&std::fs::read_to_string(snap.join(DELTA_MANIFEST)).unwrap(), "main").unwrap();
    assert_eq!(main.steps, 16, "patience 0 trains every step");
    for step in [8, 16] {
        let dir = snap.join(format!("step-{step}"));
        let m = parse_manifest(&std::fs::read_to_string(dir.join(DELTA_MANIFEST)).unwrap(), "snapshot").unwrap();
        assert!(m.complete && m.steps == step && m.best_step == step, "{m:?}");
        assert_eq!(hybrid_ir::model::sha256_hex(&std::fs::read(dir.join(DELTA_WEIGHTS)).unwrap()), m.weights_sha256);
        assert_eq!(m.history.last().map(|h| h.0), Some(step));
    }
    let s8 = std::fs::read(snap.join("step-8").join(DELTA_WEIGHTS)).unwrap();
    assert!(s8 != std::fs::read(snap.join("step-16").join(DELTA_WEIGHTS)).unwrap(), "the weights moved between the snapshots");
    // A snapshot that is not a validation step (every 2 here) is refused with the reason.
    let out = tiny_train(&root.join("bad")).args(["--snapshots", "3"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("snapshot step 3") && stderr.contains("validation interval 2"), "{stderr}");
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn delta_checkpoints_are_checked_against_their_manifest() {
    let base = Checkpoint::load(&model_dir().join("e5-small-q4.bin")).unwrap();
    let root = std::env::temp_dir().join(format!("hybrid-ir-delta-{}", std::process::id()));
    std::fs::remove_dir_all(&root).ok();
    let status = tiny_train_steps(&root, 2).status().unwrap();
    assert!(status.success());
    let manifest = parse_manifest(&std::fs::read_to_string(root.join(DELTA_MANIFEST)).unwrap(), "m").unwrap();
    let bytes = std::fs::read(root.join(DELTA_WEIGHTS)).unwrap();
    assert!(bytes.len() < 10_000_000);
    let (ckpt, layers) = apply_checked(&base, &manifest, &bytes, "layers").unwrap();
    assert_eq!(layers, vec![11]);
    assert_ne!(ckpt.sha256, base.sha256);
    // Lower layers are the base's, bit for bit; the trained one moved but stays close (f16).
    assert_eq!(ckpt.weights.get("l10.q.w").unwrap().to_f32(), base.weights.get("l10.q.w").unwrap().to_f32());
    let (a, b) = (ckpt.weights.get("l11.fi.w").unwrap().to_f32(), base.weights.get("l11.fi.w").unwrap().to_f32());
    let max_diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(max_diff > 0.0 && max_diff < 0.05, "max change {max_diff}");
    // A flipped byte is caught by the hash; a manifest for another base is refused.
    let mut corrupt = bytes.clone();
    let n = corrupt.len();
    corrupt[n - 3] ^= 0x55;
    let err = apply_checked(&base, &manifest, &corrupt, "layers").unwrap_err().to_string();
    assert!(err.contains("does not match the manifest"), "{err}");
    let mut other = manifest.clone();
    other.base_sha256 = "0".repeat(64);
    let err = apply_checked(&base, &other, &bytes, "layers").unwrap_err().to_string();
    assert!(err.contains("trained on base model"), "{err}");
    std::fs::remove_dir_all(&root).ok();
}

/// `sweep` and `web-assets` embed through the shared trunk (layers below the split once, then each
/// checkpoint's top); that must give the embeddings of the plain forward pass.
#[test]
fn shared_trunk_then_top_layers_equals_the_full_forward() {
    use hybrid_ir::encoder::{BackendKind, Encoder, EncoderConfig};
    use hybrid_ir::tokenize::{Role, TextTokenizer};
    let base = Checkpoint::load(&model_dir().join("e5-small-q4.bin")).unwrap();
    let tokenizer = TextTokenizer::from_file(&model_dir().join("tokenizer.json")).unwrap();
    let encoder = Encoder::new(&base, tokenizer, BackendKind::Flex.device().unwrap(), EncoderConfig::new().with_batch_size(3)).unwrap();
    let texts = ["Wer schrieb Faust?", "東京は日本の首都です。", "The Nile is the longest river in Africa, flowing north.", "ما هي عاصمة فرنسا؟", "x"];
    let full = encoder.encode(&texts, Role::Passage, |_| {}).unwrap();
    let split = 10;
    let features = encoder.features(&texts, Role::Passage, split, |_| {}).unwrap();
    let top = encoder.encode_features(&features, &encoder.bert.layers[split..], |_| {}).unwrap();
    let max_diff = full.data.iter().zip(&top.data).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert_eq!(full.data.len(), top.data.len());
    assert!(max_diff < 1e-5, "max difference {max_diff}");
}

/// The trunk store: computed once and then loaded exactly, by one of two racing threads; a
/// damaged file is recognised and computed again; another split is another entry.
#[test]
fn trunk_store_computes_once_loads_exactly_and_replaces_damaged_files() {
    use hybrid_ir::encoder::{BackendKind, Encoder, EncoderConfig, Origin, TrunkStore};
    use hybrid_ir::tokenize::{Role, TextTokenizer};
    let base = Checkpoint::load(&model_dir().join("e5-small-q4.bin")).unwrap();
    let tokenizer = TextTokenizer::from_file(&model_dir().join("tokenizer.json")).unwrap();
    let encoder = Encoder::new(&base, tokenizer, BackendKind::Flex.device().unwrap(), EncoderConfig::new().with_batch_size(3)).unwrap();
    let dir = std::env::temp_dir().join(format!("hybrid-ir-store-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    let store = TrunkStore::new(&dir);
    let texts = ["Wer schrieb Faust?", "東京は日本の首都です。", "x"];
    let direct = encoder.features(&texts, Role::Query, 10, |_| {}).unwrap();
    let origins: Vec<Origin> = std::thread::scope(|s| {
        let racers: Vec<_> = (0..2).map(|_| s.spawn(|| store.features(&encoder, &texts, Role::Query, 10, |_| {}).unwrap())).collect();
        racers
            .into_iter()
            .map(|r| {
                let (f, origin) = r.join().unwrap();
                assert_eq!(f, direct, "stored features differ from the encoder's");
                origin
            })
            .collect()
    });
    assert!(origins.contains(&Origin::Computed) && origins.contains(&Origin::Loaded), "{origins:?}: the store computed twice");
    let path = store.path(&encoder, &texts, Role::Query, 10);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let (f, origin) = store.features(&encoder, &texts, Role::Query, 10, |_| {}).unwrap();
    assert!(matches!(origin, Origin::Replaced(ref why) if why.contains("checksum")), "{origin:?}");
    assert_eq!(f, direct);
    assert_eq!(store.features(&encoder, &texts, Role::Query, 10, |_| {}).unwrap().1, Origin::Loaded);
    assert_ne!(store.path(&encoder, &texts, Role::Query, 11), path, "another trunk depth is another entry");
    assert_ne!(store.path(&encoder, &texts, Role::Passage, 10), path, "another role is another entry");
    assert_ne!(store.path(&encoder, &texts[..2], Role::Query, 10), path, "other texts are another entry");
    std::fs::remove_dir_all(&dir).ok();
}

/// `hybrid-ir sweep` on a tiny grid (seed 1, a few steps, small pools) writing under `root`.
fn tiny_sweep(root: &Path, alphas: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(["sweep", "--alphas", alphas, "--seeds", "1", "--tasks", "xquad-r-heldout,mkqa"])
        .args(["--steps", "4", "--eval-every", "2", "--max-questions", "24", "--train-batch-size", "4", "--valid-batches", "2"])
        .args(["--warmup-steps", "1", "--train-layers", "1", "--bootstrap", "20", "--eval-pool-limit", "200"])
        .args(extra)
        .arg("--models")
        .arg(root.join("models"))
        .arg("--results")
        .arg(root.join("results"))
        .arg("--cache-dir")
        .arg(root.join("cache"))
        .arg("--data")
        .arg(data())
        .env("HYBRID_IR_MODEL_DIR", model_dir());
    c
}

/// The sweep on a tiny grid, end to end: every alpha is checked before any work, each cell is
/// trained, evaluated and written with its per-question tables, a rerun skips every finished
/// model, and the study reads the results into paired comparisons.
#[test]
fn sweep_runs_cell_by_cell_resumes_and_feeds_the_study() {
    let root = std::env::temp_dir().join(format!("hybrid-ir-sweep-{}", std::process::id()));
    std::fs::remove_dir_all(&root).ok();
    let sweep = |alphas: &str| tiny_sweep(&root, alphas, &[]).output().unwrap();
    let bad = sweep("0.5,2");
    assert!(!bad.status.success());
    let msg = String::from_utf8_lossy(&bad.stderr);
    assert!(msg.contains("alpha 2") && msg.contains("position 2"), "{msg}");
    assert!(!root.join("results").exists(), "nothing is written before the grid is checked");

    let out = sweep("0,1");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let results = root.join("results");
    for model in ["base", "alpha-0-seed-1", "alpha-1-seed-1"] {
        let dir = results.join(model);
        assert!(dir.join("report.json").is_file(), "{model}: report");
        for task in ["xquad-r-heldout", "mkqa"] {
            assert!(dir.join(format!("{task}.questions.st.gz")).is_file(), "{model}: {task} per-question table");
        }
    }
    let sweep_json: serde_json::Value = serde_json::from_slice(&std::fs::read(results.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(sweep_json["entries"].as_array().unwrap().len(), 3);
    let runs = std::fs::read_to_string(results.join("runs.jsonl")).unwrap();
    let run: serde_json::Value = serde_json::from_str(runs.lines().next().unwrap()).unwrap();
    assert!(run["stages"].as_array().unwrap().iter().any(|s| s["stage"] == "alpha-1-seed-1: train"), "{run}");

    let again = sweep("0,1");
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{err}");
    assert!(err.contains("base: results are current") && err.matches("trained and evaluated; skipping").count() == 2, "{err}");
    assert!(!err.contains("trunk"), "a rerun of a finished sweep computes nothing: {err}");

    let out = Command::new(bin()).args(["study", "--bootstrap", "50", "--results"]).arg(&results).arg("--out").arg(root.join("study")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let study: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join("study/study.json")).unwrap()).unwrap();
    let xq = study["tasks"].as_array().unwrap().iter().find(|t| t["task"] == "xquad-r-heldout").unwrap();
    assert_eq!(xq["alphas"].as_array().unwrap().len(), 2);
    assert!(xq["contrasts"].as_array().unwrap().iter().any(|c| c["a"] == "0" && c["b"] == "1"), "{}", xq["contrasts"]);
    // Figures recomputed from the per-question tables equal the reports' macro averages.
    let base: serde_json::Value = serde_json::from_slice(&std::fs::read(results.join("base/report.json")).unwrap()).unwrap();
    let rep = base["tasks"].as_array().unwrap().iter().find(|t| t["task"] == "xquad-r-heldout").unwrap();
    for (fig, setting) in [("mono_map", "mono"), ("cross_map", "cross"), ("multi_map", "multi")] {
        let (a, b) = (xq["base"][fig].as_f64().unwrap(), rep["macro"][setting]["map"].as_f64().unwrap());
        assert!((a - b).abs() < 1e-4, "{fig}: study {a} vs report {b}");
    }
    // Truncation is counted in sweep reports too (they once always said 0), the same for every model.
    let trunc = rep["truncated_pool"].as_u64().unwrap();
    assert!(trunc > 0, "XQuAD-R held-out's 200-passage pool holds some over 128 tokens: {rep}");
    let alpha: serde_json::Value = serde_json::from_slice(&std::fs::read(results.join("alpha-1-seed-1/report.json")).unwrap()).unwrap();
    let alpha_xq = alpha["tasks"].as_array().unwrap().iter().find(|t| t["task"] == "xquad-r-heldout").unwrap();
    assert_eq!(alpha_xq["truncated_pool"].as_u64(), Some(trunc));
    std::fs::remove_dir_all(&root).ok();
}

/// A fixed-budget block: `--snapshots` with `--patience 0` trains every step, evaluates the
/// weights at each snapshot into `results/step-N/<cell>/` beside a copy of the base's results,
/// skips all of it on a rerun, and the study turns the step folders into a learning curve held
/// against a reference grid.
#[test]
fn sweep_evaluates_snapshots_into_a_learning_curve() {
    let root = std::env::temp_dir().join(format!("hybrid-ir-curve-{}", std::process::id()));
    std::fs::remove_dir_all(&root).ok();
    let sweep = || tiny_sweep(&root, "0,1", &["--snapshots", "2,4", "--patience", "0"]).output().unwrap();
    let out = sweep();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let results = root.join("results");
    let report = |p: &str| -> serde_json::Value { serde_json::from_slice(&std::fs::read(results.join(p).join("report.json")).unwrap()).unwrap() };
    let mut shas = std::collections::BTreeSet::new();
    for step in [2, 4] {
        assert_eq!(report(&format!("step-{step}/base")), report("base"), "step {step}: the base's results, copied");
        for cell in ["alpha-0-seed-1", "alpha-1-seed-1"] {
            let r = report(&format!("step-{step}/{cell}"));
            assert_eq!(r["config"]["snapshot_step"], step, "{cell} step {step}");
            assert_eq!(r["config"]["train_steps"], step, "{cell} step {step}: the weights at that step");
            assert!(results.join(format!("step-{step}/{cell}/xquad-r-heldout.questions.st.gz")).is_file());
            shas.insert(r["model"]["sha256"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(shas.len(), 4, "every snapshot is its own model");
    assert_eq!(report("alpha-1-seed-1")["config"]["train_steps"], 4, "patience 0 trains every step");

    let again = sweep();
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{err}");
    assert!(err.matches("trained and evaluated; skipping").count() == 2 && !err.contains(": evaluate"), "a rerun computes nothing: {err}");
    // A snapshot's results removed: the cell is not done, and only that snapshot is redone.
    std::fs::remove_file(results.join("step-2/alpha-1-seed-1/report.json")).unwrap();
    let redo = sweep();
    let err = String::from_utf8_lossy(&redo.stderr);
    assert!(redo.status.success(), "{err}");
    assert!(err.contains("alpha-1-seed-1 step 2: evaluate") && !err.contains("step 4: evaluate") && !err.contains("[stage] alpha-0-seed-1"), "{err}");

    let out = Command::new(bin())
        .args(["study", "--bootstrap", "50", "--results"])
        .arg(&results)
        .arg("--reference")
        .arg(&results)
        .arg("--out")
        .arg(root.join("study"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let curve: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join("study/curve.json")).unwrap()).unwrap();
    assert_eq!(curve["steps"], serde_json::json!([2, 4]));
    let xq = curve["tasks"].as_array().unwrap().iter().find(|t| t["task"] == "xquad-r-heldout").unwrap();
    assert_eq!(xq["alphas"], serde_json::json!([0.0, 1.0]));
    let points = xq["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    // The step-4 difference 1 - 0 in Mul. mAP equals the one computed from the two reports.
    let multi = |p: &str| report(p)["tasks"].as_array().unwrap().iter().find(|t| t["task"] == "xquad-r-heldout").unwrap()["macro"]["multi"]["map"].as_f64().unwrap();
    let pair = points[1]["pairs"].as_array().unwrap().iter().find(|p| p["figure"] == "multi_map").unwrap();
    assert_eq!((pair["a"].as_str(), pair["b"].as_str()), (Some("1"), Some("0")));
    let want = multi("step-4/alpha-1-seed-1") - multi("step-4/alpha-0-seed-1");
    assert!((pair["here"]["estimate"].as_f64().unwrap() - want).abs() < 1e-4, "{pair} vs {want}");
    assert!(pair["reference"]["estimate"].is_f64(), "held against the reference grid: {pair}");
    assert!(std::fs::read_to_string(root.join("study/curve.md")).unwrap().contains("| step |"));
    std::fs::remove_dir_all(&root).ok();
}

/// The stages a scheduler runs (prepare, then train and eval per cell, two workers on the same
/// cell at once, then collect) give the same files as the one-machine loop: every file byte for
/// byte, JSON apart from the fields that record times (`scripts/compare-sweeps`).
#[test]
fn staged_sweep_equals_the_loop_even_with_two_workers_per_cell() {
    let root = std::env::temp_dir().join(format!("hybrid-ir-staged-{}", std::process::id()));
    std::fs::remove_dir_all(&root).ok();
    let (looped, staged) = (root.join("loop"), root.join("staged"));
    let alphas = "0,1";
    let ok = |mut c: Command| {
        let out = c.output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{text}");
        text
    };
    ok(tiny_sweep(&looped, alphas, &[]));

    let stage = |args: &[&str]| tiny_sweep(&staged, alphas, args);
    // Evaluating before training is refused, recorded, and reported by collect.
    let early = stage(&["--stage", "eval", "--cell", "1"]).output().unwrap();
    let msg = String::from_utf8_lossy(&early.stderr);
    assert!(!early.status.success() && msg.contains("--stage train --cell 1"), "{msg}");
    let collect = stage(&["--stage", "collect", "--require-complete"]).output().unwrap();
    let listed = String::from_utf8_lossy(&collect.stdout);
    assert!(!collect.status.success(), "collect --require-complete passed on an empty grid: {listed}");
    assert!(listed.contains("alpha-0-seed-1\tmissing") && listed.contains("alpha-1-seed-1\tFAILED: eval"), "{listed}");
    let bad = stage(&["--stage", "train", "--cell", "2"]).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("outside the grid of 2 cells"));

    let prepare = ok(stage(&["--stage", "prepare"]));
    assert!(prepare.contains("trunk features of the training pairs"), "{prepare}");
    for cell in ["0", "1"] {
        // Two workers on one cell: one trains, the other waits for the lock and finds it done.
        let (mut a, mut b) = (stage(&["--stage", "train", "--cell", cell]), stage(&["--stage", "train", "--cell", cell]));
        let (a, b) = (a.stderr(Stdio::piped()).spawn().unwrap(), b.stderr(Stdio::piped()).spawn().unwrap());
        let mut skipped = 0;
        for child in [a, b] {
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{err}");
            skipped += usize::from(err.contains("already trained with this configuration; skipping"));
        }
        assert_eq!(skipped, 1, "of two workers on cell {cell}, exactly one trains and the other finds it done");
        let eval = ok(stage(&["--stage", "eval", "--cell", cell]));
        assert!(eval.contains("trunk features from the store") && !eval.contains("computed into the store"), "the trunk comes from the store prepare filled: {eval}");
    }
    let again = ok(stage(&["--stage", "train", "--alpha", "1", "--seed", "1"]));
    assert!(again.contains("already trained"), "{again}");
    let collected = ok(stage(&["--stage", "collect", "--require-complete"]));
    assert!(collected.matches("\tdone").count() == 2, "{collected}");

    for dir in ["results", "models"] {
        let cmp = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/compare-sweeps"))
            .arg(looped.join(dir))
            .arg(staged.join(dir))
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&cmp.stdout);
        assert!(cmp.status.success() && !report.contains(" 0 files equal"), "{report}");
    }
    std::fs::remove_dir_all(&root).ok();
}
