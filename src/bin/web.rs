//! The page's main-thread binary (built by Trunk): renders the Yew app.

fn main() {
    #[cfg(all(target_arch = "wasm32", feature = "page"))]
    {
        hybrid_ir::web::run_constructors();
        hybrid_ir::web::app::run();
    }
}
