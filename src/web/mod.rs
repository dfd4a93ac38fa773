//! The web page: a Yew UI on the main thread and the inference engine in a Web Worker, talking
//! through [`protocol`]. The engine is the crate's own encoder and ranking code on Burn (WebGPU
//! when the browser has an adapter, Flex on the CPU otherwise).

pub mod protocol;
pub mod url;

/// Runs the module's static constructors, once; the page's and the worker's `main` call it first.
///
/// Why: a wasm binary that never calls `__wasm_call_ctors` itself is linked "command-style", and
/// wasm-ld then makes *every* export run all constructors first, including wasm-bindgen's
/// allocator and externref-table helpers, which run for each value handed to JavaScript. The
/// worker has about 4,900 constructors (cubecl's and pliron's `inventory` registrations): they
/// made posting one 384-float vector take 17 ms (`scripts/bench-browser`, `worker_ms`). Calling
/// them here makes the linker leave the exports alone.
#[cfg(target_arch = "wasm32")]
pub fn run_constructors() {
    extern "C" {
        fn __wasm_call_ctors();
    }
    // SAFETY: called once, at the start of `main`, before any code that relies on them runs.
    unsafe { __wasm_call_ctors() }
}

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
