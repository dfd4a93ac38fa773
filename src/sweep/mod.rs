//! The alpha x seed grid's files: what a sweep leaves on disk, as typed and versioned
//! structs read and written by the same code (the sweep writes them; `web-assets`, the sweep's
//! own state check and the page read them). Compiles for wasm, so the page can share them.

mod files;

pub use files::{
    read_json, BaseRef, CheckpointsManifest, FailureRecord, ShippedCheckpoint, SweepEntry, SweepFile, SweepFileError, Versioned, CHECKPOINTS_SCHEMA,
    CHECKPOINTS_VERSION, SWEEP_SCHEMA, SWEEP_VERSION,
};
