//! Fine-tuned checkpoints stored as a delta over the base model: only the transformer layers that
//! training changed, in f16 safetensors (Hugging Face tensor names), plus a JSON manifest.
//!
//! Two trained layers of multilingual-e5-small are 7.1 MB in f16, so a whole alpha sweep ships
//! with the repository and the web page; the 4-bit word table (the bulk of the model) is shared.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use super::{hf_name, sha256_hex, BertLayer, Checkpoint, ModelError, StoredTensor};

pub const DELTA_SCHEMA: &str = "hybrid-ir/delta-checkpoint";
pub const DELTA_VERSION: u32 = 1;
/// File names inside a checkpoint folder.
pub const DELTA_WEIGHTS: &str = "layers.safetensors";
pub const DELTA_MANIFEST: &str = "manifest.json";

/// What a checkpoint is and how it was made; enough to reproduce it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeltaManifest {
    pub schema: String,
    pub version: u32,
    /// sha256 of the base model file this delta applies to.
    pub base_sha256: String,
    /// sha256 of `layers.safetensors`.
    pub weights_sha256: String,
    pub weights_bytes: u64,
    /// Indices of the layers stored (the trained ones).
    pub layers: Vec<usize>,
    pub alpha: f64,
    pub seed: u64,
    /// The full training configuration.
    pub config: serde_json::Value,
    /// sha256 of every data file the training pairs came from.
    pub data: Vec<crate::sources::FileChecksum>,
    pub steps: usize,
    pub best_step: usize,
    pub best_valid_loss: f64,
    pub git_commit: String,
    /// Loss curve: (step, train loss averaged since the previous point, validation loss).
    pub history: Vec<(usize, f64, f64)>,
    pub train_seconds: f64,
    /// False while the run that writes it is still going (the file holds its best so far).
    pub complete: bool,
    /// Hash of configuration, base model and data: a rerun with the same one is a no-op.
    pub fingerprint: String,
    /// Versions of the training code and of the encoding pipeline that computed the trunk
    /// features; 0 in manifests written before they were recorded.
    #[serde(default)]
    pub code: crate::model::CodeVersions,
    pub train_questions: usize,
    pub valid_questions: usize,
}

/// One layer's tensors as canonical `(name, shape, values)` in PyTorch layout (`[out, in]`).
pub fn export_layer(layer: &BertLayer, index: usize) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let values = |t: burn::tensor::Tensor<1>| t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default();
    let mut out = Vec::new();
    let mut linear = |lin: &burn::nn::Linear, part: &str| {
        let [d_in, d_out] = lin.weight.val().dims();
        let w = values(lin.weight.val().transpose().reshape([d_in * d_out]));
        out.push((format!("l{index}.{part}.w"), vec![d_out, d_in], w));
        if let Some(b) = &lin.bias {
            out.push((format!("l{index}.{part}.b"), vec![d_out], values(b.val())));
        }
    };
    linear(&layer.query, "q");
    linear(&layer.key, "k");
    linear(&layer.value, "v");
    linear(&layer.attn_out, "ao");
    linear(&layer.intermediate, "fi");
    linear(&layer.output, "fo");
    for (ln, part) in [(&layer.attn_norm, "aln"), (&layer.out_norm, "oln")] {
        out.push((format!("l{index}.{part}.w"), vec![ln.gamma.dims()[0]], values(ln.gamma.val())));
        if let Some(b) = &ln.beta {
            out.push((format!("l{index}.{part}.b"), vec![b.dims()[0]], values(b.val())));
        }
    }
    out
}

/// Serialises tensors as f16 safetensors under their Hugging Face names.
pub fn write_delta(tensors: &[(String, Vec<usize>, Vec<f32>)]) -> Result<Vec<u8>, ModelError> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, shape, v)| {
            let b: Vec<u8> = v.iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes()).collect();
            (hf_name(name), shape.clone(), b)
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, shape, b)| {
            TensorView::new(Dtype::F16, shape.clone(), b)
                .map(|v| (name.clone(), v))
                .map_err(|e| ModelError::Format { file: "<delta>".into(), message: e.to_string() })
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::serialize(views, None).map_err(|e| ModelError::Format { file: "<delta>".into(), message: e.to_string() })
}

/// Applies a delta to the base: the result is an ordinary [`Checkpoint`] whose identity hash
/// covers both the base and the delta.
pub fn apply_delta(base: &Checkpoint, delta: &[u8], file: &str) -> Result<(Checkpoint, Vec<usize>), ModelError> {
    let st = SafeTensors::deserialize(delta)
        .map_err(|e| ModelError::Format { file: file.into(), message: format!("safetensors: {e}") })?;
    let present: BTreeSet<String> = st.names().into_iter().map(str::to_string).collect();
    let shapes: BTreeMap<String, Vec<usize>> = base.config.tensor_shapes().into_iter().collect();
    let mut weights = base.weights.clone();
    let mut layers = BTreeSet::new();
    let mut used = 0;
    for (canonical, shape) in &shapes {
        let name = hf_name(canonical);
        if !present.contains(&name) {
            continue;
        }
        if !canonical.starts_with('l') || canonical.starts_with("emb") {
            return Err(ModelError::Format { file: file.into(), message: format!("tensor {name}: only layer tensors may be stored in a delta") });
        }
        used += 1;
        let view = st.tensor(&name).map_err(|e| ModelError::Format { file: file.into(), message: e.to_string() })?;
        if view.shape() != shape.as_slice() {
            return Err(ModelError::TensorShape { file: file.into(), name, expected: shape.clone(), found: view.shape().to_vec() });
        }
        let values: Vec<f32> = match view.dtype() {
            Dtype::F16 => view.data().chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            Dtype::F32 => view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            other => {
                return Err(ModelError::Format { file: file.into(), message: format!("tensor {name} has dtype {other:?}; expected F16 or F32") })
            }
        };
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::NonFinite { file: file.into(), name, index });
        }
        weights.insert(canonical.clone(), StoredTensor::F32(Arc::new(values)));
        let layer: usize = canonical[1..].split('.').next().and_then(|n| n.parse().ok()).unwrap_or(usize::MAX);
        layers.insert(layer);
    }
    if used != present.len() {
        let unknown: Vec<&String> = present.iter().filter(|n| !shapes.keys().any(|c| &hf_name(c) == *n)).collect();
        return Err(ModelError::Format { file: file.into(), message: format!("unknown tensors {unknown:?}") });
    }
    if layers.is_empty() {
        return Err(ModelError::Format { file: file.into(), message: "the delta holds no layer tensors".into() });
    }
    // A partial layer would silently mix trained and base tensors.
    for &l in &layers {
        for part in layer_parts() {
            let name = hf_name(&format!("l{l}.{part}"));
            if !present.contains(&name) {
                return Err(ModelError::MissingTensor { file: file.into(), name });
            }
        }
    }
    let sha256 = sha256_hex(format!("{}+{}", base.sha256, sha256_hex(delta)).as_bytes());
    let checkpoint = Checkpoint { config: base.config.clone(), weights, sha256, source: file.to_string() };
    Ok((checkpoint, layers.into_iter().collect()))
}

fn layer_parts() -> impl Iterator<Item = String> {
    ["q", "k", "v", "ao", "aln", "fi", "fo", "oln"].into_iter().flat_map(|p| [format!("{p}.w"), format!("{p}.b")])
}

/// Parses and checks a manifest against the weights it describes.
pub fn parse_manifest(text: &str, file: &str) -> Result<DeltaManifest, ModelError> {
    let m: DeltaManifest =
        serde_json::from_str(text).map_err(|e| ModelError::Format { file: file.into(), message: format!("manifest: {e}") })?;
    if m.schema != DELTA_SCHEMA || m.version != DELTA_VERSION {
        return Err(ModelError::Format {
            file: file.into(),
            message: format!("schema {} v{}, expected {DELTA_SCHEMA} v{DELTA_VERSION}", m.schema, m.version),
        });
    }
    Ok(m)
}

/// Loads a checkpoint folder (manifest + delta) on top of `base`, checking both hashes.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_delta_dir(base: &Checkpoint, dir: &std::path::Path) -> Result<(Checkpoint, DeltaManifest), ModelError> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|source| ModelError::Io { path: path.display().to_string(), source })
    };
    let manifest_path = dir.join(DELTA_MANIFEST).display().to_string();
    let manifest = parse_manifest(&String::from_utf8_lossy(&read(DELTA_MANIFEST)?), &manifest_path)?;
    let weights_path = dir.join(DELTA_WEIGHTS).display().to_string();
    let bytes = read(DELTA_WEIGHTS)?;
    let (checkpoint, _) = apply_checked(base, &manifest, &bytes, &weights_path)?;
    Ok((checkpoint, manifest))
}

/// [`apply_delta`] after checking that the manifest names this base and these bytes.
pub fn apply_checked(
    base: &Checkpoint,
    manifest: &DeltaManifest,
    bytes: &[u8],
    file: &str,
) -> Result<(Checkpoint, Vec<usize>), ModelError> {
    if manifest.base_sha256 != base.sha256 {
        return Err(ModelError::Format {
            file: file.into(),
            message: format!(
                "trained on base model {}, but the loaded base is {} ({}); fetch the matching base with scripts/fetch-model",
                manifest.base_sha256, base.sha256, base.source
            ),
        });
    }
    let sha = sha256_hex(bytes);
    if sha != manifest.weights_sha256 {
        return Err(ModelError::Format {
            file: file.into(),
            message: format!("sha256 {sha} does not match the manifest's {}: the file is corrupt or was replaced", manifest.weights_sha256),
        });
    }
    apply_delta(base, bytes, file)
}
