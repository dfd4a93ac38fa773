//! Native faults, on the real CLI: two `eval` processes sharing one embedding cache, `kill -9`
//! in the middle of a run, and a full disk (`ulimit -f` with SIGXFSZ ignored, so writes fail with
//! EFBIG as on a full file system). Afterwards every cache record passes its check, no
//! temporary file is left, the previous files are intact, and a rerun reproduces the report.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use hybrid_ir::rankings::verify_file;

/// The model's embedding dimension (multilingual-e5-small).
const DIM: usize = 384;

fn eval(cache: &Path, out: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hybrid-ir"));
    c.args(["eval", "--task", "xquad-r-heldout", "--langs", "en,de", "--max-questions", "20", "--bootstrap", "50"])
        .arg("--data")
        .arg(common::data())
        .arg("--cache-dir")
        .arg(cache)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn run_ok(mut c: Command) {
    let o = c.output().expect("runs");
    assert!(o.status.success(), "eval failed: {}", String::from_utf8_lossy(&o.stderr));
}

/// The report without what legitimately changes between runs (timings, creation time).
fn report(out: &Path) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        if let Some(o) = v.as_object_mut() {
            o.remove("timings");
            o.remove("created_unix");
            o.values_mut().for_each(strip);
        } else if let Some(a) = v.as_array_mut() {
            a.iter_mut().for_each(strip);
        }
    }
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).expect("report.json")).expect("JSON");
    strip(&mut v);
    v
}

/// Checks every record of every cache file; returns the record count. No temporary may remain.
fn verify_cache(dir: &Path) -> usize {
    let mut records = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".partial"), "a temporary file was left: {name}");
        records += verify_file(&path, DIM).unwrap_or_else(|err| panic!("{err}"));
    }
    records
}

/// Every file of `dir` with its length and sha256.
fn files(dir: &Path) -> Vec<(PathBuf, usize, String)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let b = std::fs::read(e.path()).unwrap();
            (e.path(), b.len(), hybrid_ir::model::sha256_hex(&b))
        })
        .collect();
    v.sort();
    v
}

/// `eval` under a file-size limit of `kb` KiB, SIGXFSZ ignored: writes past it fail with EFBIG.
fn eval_with_full_disk(cache: &Path, out: &Path, kb: u32) -> std::process::Output {
    with_full_disk(eval(cache, out), kb)
}

/// `inner` under a file-size limit of `kb` KiB, SIGXFSZ ignored.
fn with_full_disk(inner: Command, kb: u32) -> std::process::Output {
    let mut c = Command::new("sh");
    c.arg("-c").arg(format!("trap '' XFSZ; ulimit -f {kb}; exec \"$0\" \"$@\"")).arg(inner.get_program()).args(inner.get_args());
    c.output().expect("runs")
}

#[test]
fn shared_cache_kill_9_and_full_disk_leave_nothing_corrupt() {
    let root = common::scratch("faults");
    let (reference_cache, reference_out) = (root.join("cache-ref"), root.join("out-ref"));
    run_ok(eval(&reference_cache, &reference_out));
    let reference = report(&reference_out);
    let complete = verify_cache(&reference_cache);
    assert!(complete > 800, "{complete} cached texts");
    // The same run on the now complete cache encodes nothing and must say the same (it once
    // counted truncated texts only among those it encoded).
    run_ok(eval(&reference_cache, &root.join("out-cached")));
    assert_eq!(report(&root.join("out-cached")), reference, "a run on a complete cache must reproduce the report");

    // Two processes at once on one cache.
    let shared = root.join("cache-shared");
    let (a, b) = (eval(&shared, &root.join("out-a")).spawn(), eval(&shared, &root.join("out-b")).spawn());
    for child in [a, b] {
        let o = child.expect("spawns").wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(verify_cache(&shared), complete, "concurrent runs lost or duplicated entries");
    assert_eq!(report(&root.join("out-a")), reference);
    assert_eq!(report(&root.join("out-b")), reference);

    // kill -9 at several points of a run, each time on the cache the last one left.
    let killed = root.join("cache-killed");
    for ms in [1500, 4000, 7000, 10000] {
        let mut child = eval(&killed, &root.join("out-killed")).spawn().expect("spawns");
        std::thread::sleep(Duration::from_millis(ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        verify_cache(&killed);
    }
    run_ok(eval(&killed, &root.join("out-killed")));
    assert_eq!(verify_cache(&killed), complete);
    assert_eq!(report(&root.join("out-killed")), reference, "a run after kills must reproduce the report");

    // Full disk while writing the report: a clear error, the previous outputs intact.
    let before = files(&reference_out);
    let o = eval_with_full_disk(&reference_cache, &reference_out, 2);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a report larger than the limit must fail");
    assert!(stderr.contains("report.json") && stderr.contains("too large"), "unclear error: {stderr}");
    assert_eq!(files(&reference_out), before, "the previous report was damaged; eval said: {stderr}");

    // Full disk while writing the cache: the error names it, the cache stays valid.
    let small = root.join("cache-small");
    std::fs::create_dir_all(&small).unwrap();
    for (path, ..) in files(&reference_cache).into_iter().filter(|(p, ..)| p.to_string_lossy().contains("-query-")) {
        std::fs::copy(&path, small.join(path.file_name().unwrap())).unwrap();
    }
    let queries_only = files(&small);
    let o = eval_with_full_disk(&small, &root.join("out-small"), 200);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && stderr.contains("embedding cache") && stderr.contains("too large"), "unclear error: {stderr}");
    assert_eq!(files(&small), queries_only, "the cache was changed by a failed save");
    verify_cache(&small);
    std::fs::remove_dir_all(&root).ok();
}

/// A tiny `train` (one layer, a few questions) of `steps` steps into `out`.
fn tiny_train(out: &Path, steps: usize) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hybrid-ir"));
    c.args(["train", "--alpha", "0.5", "--seed", "3", "--max-questions", "8", "--train-batch-size", "4", "--valid-batches", "2"])
        .args(["--steps", &steps.to_string(), "--eval-every", "2", "--warmup-steps", "1", "--train-layers", "1"])
        .arg("--data")
        .arg(common::data())
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// A full disk while `train` writes its resume state or checkpoint: a clear error naming the
/// file, and the checkpoint of the previous run byte for byte as it was, with no temporary left.
#[test]
fn full_disk_during_training_keeps_the_previous_checkpoint() {
    let root = common::scratch("faults-train");
    let out = root.join("ckpt");
    let o = tiny_train(&out, 6).output().expect("runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = files(&out);
    assert!(before.iter().any(|(p, ..)| p.ends_with("layers.safetensors")), "{before:?}");
    // Another configuration (more steps) starts over in the same folder; its first save (the
    // resume state, ~3 MB for one layer with its AdamW moments) is past the 1 MB limit.
    let o = with_full_disk(tiny_train(&out, 8), 1024);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a save past the limit must fail: {stderr}");
    assert!(stderr.contains("too large") && (stderr.contains("train-state") || stderr.contains("layers.safetensors")), "unclear error: {stderr}");
    assert_eq!(files(&out), before, "the previous checkpoint changed (or a temporary was left); train said: {stderr}");
    std::fs::remove_dir_all(&root).ok();
}
