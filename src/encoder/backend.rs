use burn::tensor::Device;

use super::EncodeError;

/// Which Burn backend runs the encoder. CPU backends are measured in benches/encode.rs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum BackendKind {
    /// Burn's pure-Rust CPU backend (also runs in WebAssembly).
    Flex,
    /// Burn's ndarray CPU backend (deprecated upstream; kept for comparison).
    Ndarray,
    /// wgpu: Vulkan/Metal/DX12 natively, WebGPU in the browser.
    Wgpu,
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::Ndarray => "ndarray",
            BackendKind::Wgpu => "wgpu",
        }
    }

    #[allow(unreachable_code, deprecated)]
    pub fn device(self) -> Result<Device, EncodeError> {
        match self {
            BackendKind::Flex => {
                #[cfg(feature = "flex")]
                return Ok(Device::flex());
            }
            BackendKind::Ndarray => {
                #[cfg(feature = "ndarray")]
                return Ok(Device::ndarray());
            }
            BackendKind::Wgpu => {
                #[cfg(feature = "wgpu")]
                return Ok(Device::wgpu(Default::default()));
            }
        }
        Err(EncodeError::BackendUnavailable(self.name().into()))
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
