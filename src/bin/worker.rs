//! The page's inference worker binary (built by Trunk as a Web Worker).

fn main() {
    #[cfg(all(target_arch = "wasm32", feature = "ui"))]
    {
        hybrid_ir::web::run_constructors();
        hybrid_ir::web::worker::run();
    }
}
