//! Reader for a Hugging Face BertModel folder (`config.json` + `model.safetensors`), for users
//! who have the original multilingual-e5-small checkpoint rather than the 4-bit package.

use std::sync::Arc;

use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;

#[cfg(not(target_arch = "wasm32"))]
use super::Checkpoint;
use super::{BertConfig, ModelError, StoredTensor, Weights};

#[derive(Deserialize)]
struct HfConfig {
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    vocab_size: usize,
    max_position_embeddings: usize,
    type_vocab_size: usize,
    layer_norm_eps: f64,
    #[serde(default = "default_pad")]
    pad_token_id: u32,
    #[serde(default)]
    hidden_act: Option<String>,
}

fn default_pad() -> u32 {
    1
}

/// Canonical name (`l3.q.w`) -> Hugging Face BertModel name (`encoder.layer.3.attention.self.query.weight`).
pub fn hf_name(canonical: &str) -> String {
    let fixed = match canonical {
        "emb.word" => Some("embeddings.word_embeddings.weight"),
        "emb.pos" => Some("embeddings.position_embeddings.weight"),
        "emb.type" => Some("embeddings.token_type_embeddings.weight"),
        "emb.ln.w" => Some("embeddings.LayerNorm.weight"),
        "emb.ln.b" => Some("embeddings.LayerNorm.bias"),
        _ => None,
    };
    if let Some(name) = fixed {
        return name.to_string();
    }
    // lN.part.{w,b}
    let mut it = canonical.splitn(3, '.');
    let layer = it.next().unwrap_or_default().trim_start_matches('l');
    let part = it.next().unwrap_or_default();
    let wb = if it.next() == Some("w") { "weight" } else { "bias" };
    let module = match part {
        "q" => "attention.self.query",
        "k" => "attention.self.key",
        "v" => "attention.self.value",
        "ao" => "attention.output.dense",
        "aln" => "attention.output.LayerNorm",
        "fi" => "intermediate.dense",
        "fo" => "output.dense",
        _ => "output.LayerNorm",
    };
    format!("encoder.layer.{layer}.{module}.{wb}")
}

/// Parses `config.json` text into our architecture config.
pub fn parse_hf_config(text: &str, file: &str) -> Result<BertConfig, ModelError> {
    let c: HfConfig = serde_json::from_str(text)
        .map_err(|e| ModelError::Format { file: file.into(), message: format!("config.json: {e}") })?;
    if let Some(act) = c.hidden_act.as_deref() {
        if act != "gelu" {
            return Err(ModelError::Format {
                file: file.into(),
                message: format!("hidden_act is {act:?}; only exact \"gelu\" is implemented"),
            });
        }
    }
    if c.num_attention_heads == 0 || !c.hidden_size.is_multiple_of(c.num_attention_heads) {
        return Err(ModelError::BadHeader {
            file: file.into(),
            field: "num_attention_heads",
            value: c.num_attention_heads.to_string(),
            expected: format!("a divisor of hidden_size {}", c.hidden_size),
        });
    }
    Ok(BertConfig::new()
        .with_hidden_size(c.hidden_size)
        .with_num_layers(c.num_hidden_layers)
        .with_num_heads(c.num_attention_heads)
        .with_intermediate_size(c.intermediate_size)
        .with_vocab_size(c.vocab_size)
        .with_max_position_embeddings(c.max_position_embeddings)
        .with_type_vocab_size(c.type_vocab_size)
        .with_layer_norm_eps(c.layer_norm_eps)
        .with_pad_token_id(c.pad_token_id))
}

/// Reads the tensors of a safetensors image under canonical names (f32, f16 or bf16 on disk).
pub fn parse_safetensors(bytes: &[u8], config: &BertConfig, file: &str) -> Result<Weights, ModelError> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| ModelError::Format { file: file.into(), message: format!("safetensors: {e}") })?;
    let mut weights = Weights::default();
    for (canonical, shape) in config.tensor_shapes() {
        let name = hf_name(&canonical);
        // Some exports prefix every name with the model type.
        let view = st
            .tensor(&name)
            .or_else(|_| st.tensor(&format!("bert.{name}")))
            .map_err(|_| ModelError::MissingTensor { file: file.into(), name: name.clone() })?;
        // The shape, not only the element count: a transposed [in, out] matrix has the same count.
        if view.shape() != shape.as_slice() {
            return Err(ModelError::TensorShape { file: file.into(), name, expected: shape, found: view.shape().to_vec() });
        }
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Dtype::F16 => data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            Dtype::BF16 => data.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            other => {
                return Err(ModelError::Format {
                    file: file.into(),
                    message: format!("tensor {name} has dtype {other:?}; expected F32, F16 or BF16"),
                })
            }
        };
        weights.insert(canonical, StoredTensor::F32(Arc::new(values)));
    }
    weights.validate(config, file)?;
    Ok(weights)
}

/// Loads `config.json` + `model.safetensors` from a folder.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_hf_dir(dir: &std::path::Path) -> Result<Checkpoint, ModelError> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|source| ModelError::Io { path: path.display().to_string(), source })
    };
    let config_path = dir.join("config.json").display().to_string();
    let config_text = read("config.json")?;
    let config = parse_hf_config(&String::from_utf8_lossy(&config_text), &config_path)?;
    let st_path = dir.join("model.safetensors").display().to_string();
    let bytes = read("model.safetensors")?;
    let weights = parse_safetensors(&bytes, &config, &st_path)?;
    Ok(Checkpoint { config, weights, sha256: super::sha256_hex(&bytes), source: dir.display().to_string() })
}

#[cfg(test)]
mod tests {
    use super::hf_name;

    #[test]
    fn names_map_to_bert_model() {
        assert_eq!(hf_name("emb.word"), "embeddings.word_embeddings.weight");
        assert_eq!(hf_name("l11.q.w"), "encoder.layer.11.attention.self.query.weight");
        assert_eq!(hf_name("l0.aln.b"), "encoder.layer.0.attention.output.LayerNorm.bias");
        assert_eq!(hf_name("l3.fo.w"), "encoder.layer.3.output.dense.weight");
        assert_eq!(hf_name("l3.oln.w"), "encoder.layer.3.output.LayerNorm.weight");
    }
}
