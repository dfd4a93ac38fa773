//! The inference worker built with wasm relaxed SIMD (feature `relaxed-simd`): the same worker
//! as `hybrid-ir-worker`, for browsers that validate relaxed SIMD (the page probes, then picks).

fn main() {
    #[cfg(all(target_arch = "wasm32", feature = "ui"))]
    {
        hybrid_ir::web::run_constructors();
        hybrid_ir::web::worker::run();
    }
}
