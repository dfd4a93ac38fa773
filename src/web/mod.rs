//! The web page: a Yew UI on the main thread and the inference engine in a Web Worker, talking
//! through [`protocol`]. The engine is the crate's own encoder and ranking code on Burn (WebGPU
//! when the browser has an adapter, Flex on the CPU otherwise).

pub mod protocol;
pub mod url;

#[cfg(all(target_arch = "wasm32", feature = "page"))]
pub mod app;
#[cfg(all(target_arch = "wasm32", feature = "page"))]
pub mod charts;
#[cfg(all(target_arch = "wasm32", feature = "page"))]
pub mod fetch;
#[cfg(all(target_arch = "wasm32", feature = "page"))]
pub mod reproduce_view;
#[cfg(all(target_arch = "wasm32", feature = "page"))]
pub mod state;
#[cfg(all(target_arch = "wasm32", feature = "page"))]
pub mod views;
#[cfg(all(target_arch = "wasm32", feature = "ui"))]
pub mod worker;
