//! The pretrained encoder: its configuration, the two weight formats it can be read from, and
//! the Burn module that runs it.
//!
//! Weights are first read into a format-neutral [`Weights`] store (canonical short names, f32 or
//! packed Q4_0), so the E5S1 and Hugging Face loaders share every check and the Burn model has one
//! constructor.

pub mod activation;
mod attention;
mod bert;
mod config;
mod delta;
mod e5s1;
mod error;
mod hf;
pub mod linear;
mod quant;
mod versions;
mod vocab;
mod weights;

pub use bert::{attention_bias, run_layers, Bert, BertLayer, Embeddings};
pub use config::BertConfig;
#[cfg(not(target_arch = "wasm32"))]
pub use delta::load_delta_dir;
pub use delta::{
    apply_checked, apply_delta, export_layer, parse_manifest, write_delta, DeltaManifest, DELTA_MANIFEST, DELTA_SCHEMA,
    DELTA_VERSION, DELTA_WEIGHTS,
};
pub use e5s1::{parse_e5s1, write_e5s1, E5S1_MAGIC};
pub use error::ModelError;
#[cfg(not(target_arch = "wasm32"))]
pub use hf::load_hf_dir;
pub use hf::{hf_name, parse_hf_config, parse_safetensors};
pub use quant::{dequantize_q4_0, q4_0_bytes, Q4_BLOCK, Q4_BLOCK_BYTES};
pub use versions::CodeVersions;
pub use vocab::{prune_checkpoint, Vocab, UNK_ID};
pub use weights::{StoredTensor, WordTable, Weights};

/// A loaded checkpoint: architecture plus weights, and where it came from.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub config: BertConfig,
    pub weights: Weights,
    /// sha256 of the weight file(s), hex; identifies the model in caches and reports.
    pub sha256: String,
    /// Human-readable source (file or folder path).
    pub source: String,
}

impl Checkpoint {
    /// Loads either format: a file is read as E5S1, a folder as a Hugging Face checkpoint.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(path: &std::path::Path) -> Result<Self, ModelError> {
        if path.is_dir() {
            load_hf_dir(path)
        } else {
            let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
                path: path.display().to_string(),
                source,
            })?;
            Self::from_e5s1_bytes(&bytes, &path.display().to_string())
        }
    }

    /// Parses an in-memory E5S1 image (the browser fetches bytes, it has no file system).
    pub fn from_e5s1_bytes(bytes: &[u8], source: &str) -> Result<Self, ModelError> {
        let (config, weights) = parse_e5s1(bytes, source)?;
        Ok(Self { config, weights, sha256: sha256_hex(bytes), source: source.to_string() })
    }
}

/// Whether the CPU kernels of this module ([`activation::gelu`]'s, [`attention::multi_head`]'s,
/// in the browser [`linear::forward`]'s)
/// take `x`: f32 on Flex without autodiff (inference). Elsewhere Burn's ops run, which the GPU
/// and training (gradients) need.
pub(crate) fn runs_cpu_kernels<const D: usize>(x: &burn::tensor::Tensor<D>) -> bool {
    #[cfg(feature = "flex")]
    {
        let device = x.device();
        !device.is_autodiff() && device == burn::tensor::Device::flex() && x.dtype() == burn::tensor::DType::F32
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = x;
        false
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}
