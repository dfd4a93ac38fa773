//! hybrid-ir: multilingual dense retrieval and hybrid (mono/cross-lingual) batch fine-tuning.
//!
//! Data flows one way through the modules:
//! `sources` -> `tasks` -> `tokenize` / `model` / `encoder` -> `rankings` -> `metrics` -> `report`
//! -> `study` (statistics across many reports).
//! Everything except `cli` compiles for `wasm32-unknown-unknown` so the web page shares it.

pub mod assets;
pub mod encoder;
#[cfg(not(target_arch = "wasm32"))]
pub mod files;
#[cfg(not(target_arch = "wasm32"))]
pub mod interop;
pub mod model;
pub mod tokenize;

#[cfg(feature = "cli")]
pub mod cli;
pub mod metrics;
pub mod rankings;
pub mod report;
pub mod sources;
pub mod study;
pub mod sweep;
pub mod tasks;
pub mod web;
#[cfg(feature = "autodiff")]
pub mod train;
