//! Every loader error path on small synthetic checkpoints: truncated or corrupt files must give
//! an error naming the tensor and sizes, never a panic; both formats give the same model.

mod common;
use common::{tiny_config, tiny_weights, tiny_file};

use std::sync::Arc;

use burn::tensor::Device;
use hybrid_ir::encoder::mean_pool_normalize;
use hybrid_ir::model::{
    hf_name, parse_e5s1, parse_hf_config, parse_safetensors, write_e5s1, BertConfig, ModelError, StoredTensor, Weights,
};
use hybrid_ir::tokenize::TokenBatch;

#[test]
fn e5s1_round_trip_keeps_config_and_packed_words() {
    let (config, weights, bytes) = tiny_file();
    let (parsed_config, parsed) = parse_e5s1(&bytes, "tiny.bin").expect("parses");
    assert_eq!(parsed_config.hidden_size, config.hidden_size);
    assert_eq!(parsed_config.num_layers, 2);
    assert_eq!(parsed_config.vocab_size, 40);
    assert!(matches!(parsed.get("emb.word"), Some(StoredTensor::Q4(_))));
    assert_eq!(parsed.get("l1.fo.w").unwrap().to_f32(), weights.get("l1.fo.w").unwrap().to_f32());
}

#[test]
fn e5s1_truncated_anywhere_is_an_error_not_a_panic() {
    let (_, _, bytes) = tiny_file();
    // Every prefix length: header, directory and payload.
    for cut in 0..bytes.len() {
        let err = parse_e5s1(&bytes[..cut], "cut.bin").expect_err("truncated file must not parse");
        let msg = err.to_string();
        assert!(msg.contains("cut.bin"), "error must name the file: {msg}");
        assert!(
            matches!(err, ModelError::Truncated { .. } | ModelError::TensorOutOfBounds { .. } | ModelError::BadMagic { .. }),
            "cut at {cut}: unexpected {err:?}"
        );
    }
}

#[test]
fn e5s1_truncated_payload_names_the_tensor() {
    let (_, _, bytes) = tiny_file();
    let err = parse_e5s1(&bytes[..bytes.len() - 10], "short.bin").unwrap_err();
    match err {
        ModelError::TensorOutOfBounds { name, end, len, .. } => {
            assert_eq!(name, "l1.oln.b", "the last tensor is the one cut");
            assert_eq!(end, len + 10);
        }
        other => panic!("expected TensorOutOfBounds, got {other:?}"),
    }
}

#[test]
fn e5s1_bad_magic() {
    let (_, _, mut bytes) = tiny_file();
    bytes[..4].copy_from_slice(b"GGUF");
    let err = parse_e5s1(&bytes, "x.bin").unwrap_err();
    assert!(matches!(err, ModelError::BadMagic { found, .. } if &found == b"GGUF"));
    assert!(err.to_string().contains("E5S1"));
}

#[test]
fn e5s1_bad_header_values() {
    let (_, _, mut bytes) = tiny_file();
    // heads (offset 16) = 0
    bytes[16..20].copy_from_slice(&0i32.to_le_bytes());
    let err = parse_e5s1(&bytes, "x.bin").unwrap_err();
    assert!(matches!(err, ModelError::BadHeader { field: "heads", .. }), "{err:?}");
}

#[test]
fn missing_and_wrong_sized_tensors_are_named() {
    let config = tiny_config();
    let mut weights = tiny_weights(&config, false);
    weights.insert("l0.k.w", StoredTensor::F32(Arc::new(vec![0.0; 31])));
    let err = weights.validate(&config, "w").unwrap_err();
    match err {
        ModelError::TensorSize { name, expected, found, .. } => {
            assert_eq!((name.as_str(), expected, found), ("l0.k.w", 32 * 32, 31));
        }
        other => panic!("{other:?}"),
    }
    let mut weights = Weights::default();
    for (name, t) in tiny_weights(&config, false).names().map(|n| n.to_string()).collect::<Vec<_>>().iter().zip(0..) {
        let _ = t;
        if name != "emb.ln.b" {
            weights.insert(name.clone(), tiny_weights(&config, false).get(name).unwrap().clone());
        }
    }
    let err = weights.validate(&config, "w").unwrap_err();
    assert!(matches!(err, ModelError::MissingTensor { ref name, .. } if name == "emb.ln.b"), "{err:?}");
}

#[test]
fn non_finite_weights_are_rejected() {
    let config = tiny_config();
    let mut weights = tiny_weights(&config, false);
    let mut v = weights.get("l1.q.b").unwrap().to_f32();
    v[5] = f32::NAN;
    weights.insert("l1.q.b", StoredTensor::F32(Arc::new(v)));
    let err = weights.validate(&config, "w").unwrap_err();
    assert!(matches!(err, ModelError::NonFinite { ref name, index: 5, .. } if name == "l1.q.b"), "{err:?}");
}

#[test]
fn e5s1_tensor_with_impossible_byte_length() {
    let (_, _, mut bytes) = tiny_file();
    // Find the directory entry of "emb.pos" and add 1 to its byte_len.
    let pos = bytes.windows(7).position(|w| w == b"emb.pos").expect("entry");
    let len_at = pos + 7 + 1 + 4 + 8;
    let old = u64::from_le_bytes(bytes[len_at..len_at + 8].try_into().unwrap());
    bytes[len_at..len_at + 8].copy_from_slice(&(old + 1).to_le_bytes());
    let err = parse_e5s1(&bytes, "x.bin").unwrap_err();
    assert!(matches!(err, ModelError::TensorDtype { ref name, .. } if name == "emb.pos"), "{err:?}");
}

fn hf_config_json(config: &BertConfig) -> String {
    format!(
        r#"{{"architectures":["BertModel"],"hidden_size":{},"num_hidden_layers":{},"num_attention_heads":{},
        "intermediate_size":{},"vocab_size":{},"max_position_embeddings":{},"type_vocab_size":{},
        "layer_norm_eps":1e-12,"hidden_act":"gelu","pad_token_id":1}}"#,
        config.hidden_size,
        config.num_layers,
        config.num_heads,
        config.intermediate_size,
        config.vocab_size,
        config.max_position_embeddings,
        config.type_vocab_size
    )
}

/// Writes the weights as a HF safetensors file (f32, [out, in] like PyTorch).
fn to_safetensors(config: &BertConfig, weights: &Weights, skip: Option<&str>) -> Vec<u8> {
    to_safetensors_transposing(config, weights, skip, None)
}

/// As [`to_safetensors`], with the shape of tensor `transpose` (canonical name) reversed.
fn to_safetensors_transposing(config: &BertConfig, weights: &Weights, skip: Option<&str>, transpose: Option<&str>) -> Vec<u8> {
    let mut shapes = config.tensor_shapes();
    for (n, s) in &mut shapes {
        if Some(n.as_str()) == transpose {
            s.reverse();
        }
    }
    let bufs: Vec<(String, Vec<usize>, Vec<u8>)> = shapes
        .iter()
        .filter(|(n, _)| Some(n.as_str()) != skip)
        .map(|(n, s)| {
            let bytes = weights.get(n).unwrap().to_f32().iter().flat_map(|x| x.to_le_bytes()).collect();
            (hf_name(n), s.clone(), bytes)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = bufs
        .iter()
        .map(|(n, s, b)| (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap()))
        .collect();
    safetensors::tensor::serialize(views, None).unwrap()
}

#[test]
fn hf_errors_are_actionable() {
    let config = tiny_config();
    let weights = tiny_weights(&config, false);
    let bytes = to_safetensors(&config, &weights, None);
    let parsed_config = parse_hf_config(&hf_config_json(&config), "config.json").unwrap();
    assert_eq!(parsed_config, config.clone().with_layer_norm_eps(1e-12));
    parse_safetensors(&bytes, &config, "model.safetensors").expect("complete file parses");

    let err = parse_safetensors(&bytes[..bytes.len() - 4], &config, "model.safetensors").unwrap_err();
    assert!(matches!(err, ModelError::Format { .. }), "{err:?}");
    assert!(err.to_string().contains("model.safetensors"));

    let missing = to_safetensors(&config, &weights, Some("l1.v.b"));
    let err = parse_safetensors(&missing, &config, "model.safetensors").unwrap_err();
    assert!(matches!(err, ModelError::MissingTensor { ref name, .. } if name == "encoder.layer.1.attention.self.value.bias"), "{err:?}");

    let wrong = config.clone().with_intermediate_size(48);
    let err = parse_safetensors(&bytes, &wrong, "model.safetensors").unwrap_err();
    assert!(
        matches!(err, ModelError::TensorShape { ref name, ref expected, ref found, .. } if name == "encoder.layer.0.intermediate.dense.weight" && expected == &[48, 32] && found == &[64, 32]),
        "{err:?}"
    );
    // The same element count, transposed: refused by its shape (it once passed the count check).
    let transposed = to_safetensors_transposing(&config, &weights, None, Some("l0.fi.w"));
    let err = parse_safetensors(&transposed, &config, "model.safetensors").unwrap_err();
    assert!(matches!(err, ModelError::TensorShape { ref found, .. } if found == &[32, 64]), "{err:?}");
    assert!(err.to_string().contains("transposed"), "{err}");

    let err = parse_hf_config("{\"hidden_size\": 32}", "config.json").unwrap_err();
    assert!(err.to_string().contains("config.json"), "{err}");
    let err = parse_hf_config(&hf_config_json(&config).replace("\"gelu\"", "\"relu\""), "config.json").unwrap_err();
    assert!(err.to_string().contains("relu"), "{err}");
}

/// Runs the tiny model on two texts' worth of ids through a given weight set.
fn embed(config: &BertConfig, weights: &Weights) -> Vec<f32> {
    let device = Device::flex();
    let bert = config.init_with(weights, &device).unwrap();
    let words = weights.word_table(config).unwrap();
    let tokens = TokenBatch {
        ids: vec![0, 7, 9, 2, 0, 11, 2, 1],
        pad_mask: vec![false, false, false, false, false, false, false, true],
        batch: 2,
        len: 4,
        lengths: vec![4, 3],
        truncated: 0,
    };
    let mut rows = Vec::new();
    words.gather_into(&tokens.ids, &mut rows);
    let x = burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(rows, [2, 4, config.hidden_size]), &device);
    let mask = burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(tokens.pad_mask.clone(), [2, 4]), &device);
    let h = bert.forward(x, mask.clone());
    mean_pool_normalize(h, mask).into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn both_formats_give_the_same_embeddings() {
    let config = tiny_config();
    let weights = tiny_weights(&config, false);
    let (_, from_e5s1) = parse_e5s1(&write_e5s1(&config, &weights).unwrap(), "t.bin").unwrap();
    let from_hf = parse_safetensors(&to_safetensors(&config, &weights, None), &config, "m.st").unwrap();
    let a = embed(&config, &from_e5s1);
    let b = embed(&config, &from_hf);
    assert_eq!(a.len(), 64);
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-6, "{x} vs {y}");
    }
    // L2-normalised rows.
    let n0: f32 = a[..32].iter().map(|v| v * v).sum();
    assert!((n0 - 1.0).abs() < 1e-5);
}

#[test]
fn padding_does_not_change_an_embedding() {
    // Text 2 alone vs padded next to a longer text: identical vectors.
    let config = tiny_config();
    let weights = tiny_weights(&config, true);
    let padded = embed(&config, &weights);
    let device = Device::flex();
    let bert = config.init_with(&weights, &device).unwrap();
    let words = weights.word_table(&config).unwrap();
    let mut rows = Vec::new();
    words.gather_into(&[0, 11, 2], &mut rows);
    let x = burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(rows, [1, 3, 32]), &device);
    let mask = burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(vec![false; 3], [1, 3]), &device);
    let alone = mean_pool_normalize(bert.forward(x, mask.clone()), mask).into_data().try_to_vec::<f32>().unwrap();
    for (x, y) in alone.iter().zip(&padded[32..]) {
        assert!((x - y).abs() < 1e-5, "{x} vs {y}");
    }
}
