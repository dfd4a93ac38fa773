//! Which code computed a checkpoint (recorded in its manifest and its training state). Training is deterministic for one version of the code, so
//! two checkpoints are comparable only when the same code made them: a grid that runs for days
//! while the code changes must never mix versions silently (the study refuses, the sweep retrains).

use serde::{Deserialize, Serialize};

/// The versions a trained model depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CodeVersions {
    /// `train::TRAINING_VERSION` of the code that ran the training loop.
    pub training: u32,
    /// [`crate::encoder::PIPELINE_VERSION`] of the encoder that computed the frozen trunk
    /// features the trained layers learned on.
    pub pipeline: u32,
}

impl std::fmt::Display for CodeVersions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.training, self.pipeline) {
            (0, 0) => write!(f, "unrecorded (written before versions were recorded)"),
            (t, p) => write!(f, "training v{t}, pipeline v{p}"),
        }
    }
}
