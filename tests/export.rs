//! `hybrid-ir export`: a fine-tuned checkpoint written as a sentence-transformers / Hugging Face
//! folder, read back by the crate's own Hugging Face reader, gives the same weights and vectors;
//! a folder that is not empty is refused before anything is written. (The independent check, the
//! numpy forward reading the folder, is `scripts/check-export`.)

mod common;

use std::process::Command;

use common::{model_dir, scratch};
use hybrid_ir::model::Checkpoint;

const CHECKPOINT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/sweep/alpha-0.5-seed-1");

fn export(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hybrid-ir"))
        .args(["export", "--model", CHECKPOINT, "--out"])
        .arg(out)
        .args(extra)
        .env("HYBRID_IR_MODEL_DIR", model_dir())
        .output()
        .unwrap()
}

fn encode(model: &str, texts: &str) -> Vec<Vec<f32>> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hybrid-ir"))
        .args(["encode", "--as", "query", "--model", model])
        .env("HYBRID_IR_MODEL_DIR", model_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), texts.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn an_exported_checkpoint_reads_back_to_the_same_weights_and_vectors() {
    let dir = scratch("export");
    let out = dir.join("st");
    let run = export(&out, &[]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    for f in hybrid_ir::interop::FILES {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert!(out.join("2_Normalize").is_dir());
    // Our own Hugging Face reader: every tensor equals the checkpoint's, bit for bit.
    let base = Checkpoint::load(&model_dir().join("e5-small-q4.bin")).unwrap();
    let (original, manifest) = hybrid_ir::model::load_delta_dir(&base, std::path::Path::new(CHECKPOINT)).unwrap();
    let back = Checkpoint::load(&out).unwrap();
    assert_eq!(back.config, original.config);
    for (name, _) in original.config.tensor_shapes() {
        let (a, b) = (original.weights.get(&name).unwrap().to_f32(), back.weights.get(&name).unwrap().to_f32());
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "{name} differs");
    }
    // Vectors: the same as the checkpoint's.
    let texts = "Wer schrieb Faust?\nWho wrote Faust?\n誰がファウストを書いたか\n";
    let (ours, exported) = (encode(CHECKPOINT, texts), encode(out.to_str().unwrap(), texts));
    assert_eq!(ours, exported);
    // The model card says what it is and how it was made.
    let card = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(card.contains(&format!("alpha = {}", manifest.alpha)) && card.contains("\"batch_size\"") && card.contains("Licence"), "{card}");
    let prompts: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("config_sentence_transformers.json")).unwrap()).unwrap();
    assert_eq!(prompts["prompts"]["query"], "query: ");
    // f16: the same tensor list at half the size, the values rounded.
    let half = dir.join("st16");
    assert!(export(&half, &["--dtype", "f16"]).status.success());
    let (full_len, half_len) = (std::fs::metadata(out.join("model.safetensors")).unwrap().len(), std::fs::metadata(half.join("model.safetensors")).unwrap().len());
    assert!(half_len * 2 < full_len + 1_000_000, "{half_len} vs {full_len}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_folder_that_is_not_empty_is_refused_and_left_alone() {
    let dir = scratch("export-refused");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keep.txt"), "mine").unwrap();
    let run = export(&dir, &[]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains("not empty") && stderr.contains(&dir.display().to_string()), "{stderr}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "nothing was written");
    std::fs::remove_dir_all(&dir).ok();
}

fn import(from: &std::path::Path, out: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hybrid-ir"))
        .args(["import", "--from"])
        .arg(from)
        .arg("--out")
        .arg(out)
        .env("HYBRID_IR_MODEL_DIR", model_dir())
        .output()
        .unwrap()
}

/// Export, then import: the same layers and vectors; another vocabulary, a missing tensor, a
/// transposed one, another model type or another architecture is refused with the mismatch named.
#[test]
fn an_export_imports_back_and_foreign_folders_are_refused() {
    let dir = scratch("import");
    let st = dir.join("st");
    assert!(export(&st, &[]).status.success());
    let ck = dir.join("ck");
    let run = import(&st, &ck);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(String::from_utf8_lossy(&run.stdout).contains("layers [10, 11] differ"), "{}", String::from_utf8_lossy(&run.stdout));
    let texts = "Wer schrieb Faust?\nQui a écrit Faust ?\n";
    assert_eq!(encode(CHECKPOINT, texts), encode(ck.to_str().unwrap(), texts));
    // Another vocabulary: one piece renamed.
    let tok_path = st.join("tokenizer.json");
    let original = std::fs::read_to_string(&tok_path).unwrap();
    let mut tok: serde_json::Value = serde_json::from_str(&original).unwrap();
    tok["model"]["vocab"][1000][0] = "zzz-not-a-piece".into();
    std::fs::write(&tok_path, tok.to_string()).unwrap();
    let run = import(&st, &dir.join("ck2"));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains("piece 1000") && stderr.contains("another vocabulary"), "{stderr}");
    std::fs::write(&tok_path, original).unwrap();
    // A tensor missing, then one transposed (same element count, another shape).
    let weights_path = st.join("model.safetensors");
    let weights = std::fs::read(&weights_path).unwrap();
    let edit_header = |edit: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
        let n = u64::from_le_bytes(weights[..8].try_into().unwrap()) as usize;
        let mut header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&weights[8..8 + n]).unwrap();
        edit(&mut header);
        let mut text = serde_json::to_vec(&header).unwrap();
        while !text.len().is_multiple_of(8) {
            text.push(b' ');
        }
        let mut bytes = (text.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(&text);
        bytes.extend_from_slice(&weights[8 + n..]);
        std::fs::write(&weights_path, bytes).unwrap();
    };
    let name = "encoder.layer.11.output.dense.weight";
    edit_header(&|h| {
        // Renamed, not removed: its bytes stay covered, so the file stays valid safetensors.
        let key = h.keys().find(|k| k.ends_with(name)).unwrap().clone();
        let v = h.remove(&key).unwrap();
        h.insert(format!("{key}.renamed"), v);
    });
    let run = import(&st, &dir.join("ck-missing"));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains(name) && stderr.contains("missing"), "{stderr}");
    edit_header(&|h| {
        let key = h.keys().find(|k| k.ends_with(name)).unwrap().clone();
        h[&key]["shape"] = serde_json::json!([1536, 384]);
    });
    let run = import(&st, &dir.join("ck-shape"));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains(name) && stderr.contains("shape [1536, 384], expected [384, 1536]"), "{stderr}");
    assert!(!dir.join("ck-missing").join("manifest.json").exists() && !dir.join("ck-shape").join("manifest.json").exists(), "nothing written when refused");
    // Larger than any f32 multilingual-e5-small can be: refused from its size, unread (sparse).
    std::fs::OpenOptions::new().write(true).open(&weights_path).unwrap().set_len(1 << 30).unwrap();
    let run = import(&st, &dir.join("ck-large"));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains("1073741824 bytes") && stderr.contains("nothing was read"), "{stderr}");
    std::fs::write(&weights_path, &weights).unwrap();
    // A config that is not UTF-8.
    let cfg_path = st.join("config.json");
    let cfg = std::fs::read(&cfg_path).unwrap();
    let mut bad = cfg.clone();
    bad.splice(1..1, [0xff, 0xfe]);
    std::fs::write(&cfg_path, &bad).unwrap();
    let run = import(&st, &dir.join("ck-utf8"));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains("config.json: not UTF-8 text (byte 1)"), "{stderr}");
    std::fs::write(&cfg_path, &cfg).unwrap();
    // Not a BERT model.
    let cfg_path = st.join("config.json");
    let cfg = std::fs::read_to_string(&cfg_path).unwrap();
    std::fs::write(&cfg_path, cfg.replace("\"model_type\": \"bert\"", "\"model_type\": \"roberta\"")).unwrap();
    let run = import(&st, &dir.join("ck3"));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains("model_type is \"roberta\""), "{stderr}");
    // Another architecture.
    std::fs::write(&cfg_path, cfg.replace("\"hidden_size\": 384", "\"hidden_size\": 768")).unwrap();
    let run = import(&st, &dir.join("ck4"));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains("hidden_size is 768"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
