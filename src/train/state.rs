//! The resumable training state: parameters, AdamW moments and loop counters, written atomically
//! (temporary file + rename) so a run killed at any instant resumes from the last save.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use super::TrainError;

pub const STATE_FILE: &str = "train-state.safetensors";

/// Counters and history; the tensors travel beside it in the same file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Progress {
    /// Identifies the run: a state from another configuration is never resumed.
    pub fingerprint: String,
    /// The code that wrote it; a state of other code is discarded, not resumed. Absent in
    /// states written before versions were recorded (read as version 0).
    #[serde(default)]
    pub code: crate::model::CodeVersions,
    pub step: usize,
    pub best_valid_loss: f64,
    pub best_step: usize,
    /// Validations since the last improvement (early stopping).
    pub stale: usize,
    pub stopped_early: bool,
    pub history: Vec<(usize, f64, f64)>,
    pub train_seconds: f64,
}

pub struct State {
    pub progress: Progress,
    pub params: Vec<Vec<f32>>,
    pub moments: Vec<(Vec<f32>, Vec<f32>)>,
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

impl State {
    pub fn save(&self, dir: &Path) -> Result<(), TrainError> {
        let mut named: Vec<(String, Vec<u8>, usize)> = Vec::new();
        for (i, p) in self.params.iter().enumerate() {
            named.push((format!("param.{i:03}"), f32_bytes(p), p.len()));
        }
        for (i, (m, v)) in self.moments.iter().enumerate() {
            named.push((format!("m.{i:03}"), f32_bytes(m), m.len()));
            named.push((format!("v.{i:03}"), f32_bytes(v), v.len()));
        }
        let views = named
            .iter()
            .map(|(n, b, len)| TensorView::new(Dtype::F32, vec![*len], b).map(|v| (n.clone(), v)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TrainError::State(e.to_string()))?;
        let progress = serde_json::to_string(&self.progress).map_err(|e| TrainError::State(e.to_string()))?;
        let meta = HashMap::from([("progress".to_string(), progress)]);
        let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| TrainError::State(e.to_string()))?;
        write_atomic(&dir.join(STATE_FILE), &bytes)
    }

    /// The saved state, if there is one.
    pub fn load(dir: &Path) -> Result<Option<State>, TrainError> {
        let path = dir.join(STATE_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let bad = |m: String| TrainError::State(format!("{}: {m}; delete it to start over", path.display()));
        let bytes = std::fs::read(&path).map_err(|e| TrainError::io(&path, e))?;
        let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
        let progress = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("progress"))
            .ok_or_else(|| bad("no progress record".into()))?;
        let progress: Progress = serde_json::from_str(progress).map_err(|e| bad(e.to_string()))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
        let read = |name: &str| -> Option<Vec<f32>> {
            st.tensor(name)
                .ok()
                .map(|t| t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        };
        let mut params = Vec::new();
        while let Some(p) = read(&format!("param.{:03}", params.len())) {
            params.push(p);
        }
        let mut moments = Vec::new();
        while let (Some(m), Some(v)) = (read(&format!("m.{:03}", moments.len())), read(&format!("v.{:03}", moments.len()))) {
            moments.push((m, v));
        }
        Ok(Some(State { progress, params, moments }))
    }

    pub fn remove(dir: &Path) -> Result<(), TrainError> {
        let path = dir.join(STATE_FILE);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(TrainError::io(&path, e)),
            _ => Ok(()),
        }
    }
}

/// [`crate::files::write_atomic`] with the training layer's error.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    crate::files::write_atomic(path, bytes).map_err(|e| TrainError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_bit_exactly() {
        let dir = std::env::temp_dir().join(format!("hybrid-ir-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let state = State {
            progress: Progress { fingerprint: "abc".into(), step: 7, best_valid_loss: 1.25, best_step: 6, stale: 1, history: vec![(6, 2.0, 1.25)], ..Default::default() },
            params: vec![vec![1.0, -0.0, f32::MIN_POSITIVE], vec![3.5]],
            moments: vec![(vec![0.1, 0.2, 0.3], vec![1e-9, 2e-9, 3e-9]), (vec![4.0], vec![5.0])],
        };
        state.save(&dir).unwrap();
        let back = State::load(&dir).unwrap().expect("saved state");
        assert_eq!(back.progress, state.progress);
        let bits = |v: &Vec<Vec<f32>>| v.iter().map(|x| x.iter().map(|f| f.to_bits()).collect::<Vec<_>>()).collect::<Vec<_>>();
        assert_eq!(bits(&back.params), bits(&state.params));
        assert_eq!(back.moments, state.moments);
        assert!(!dir.join(format!("{STATE_FILE}.partial")).exists());
        State::remove(&dir).unwrap();
        assert!(State::load(&dir).unwrap().is_none());
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Losses are f32 values widened to f64; the JSON in the state must give back the same bits,
    /// or a resumed run's manifest differs from an uninterrupted run's (found by
    /// scripts/test-slurm: 0.36102089285850525 came back as 0.3610208928585053).
    #[test]
    fn progress_floats_round_trip_bit_exactly() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut history = vec![(10, 0.32106144204735754, 0.36102089285850525)];
        for step in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let loss = f32::from_bits((x >> 32) as u32 & 0x3FFF_FFFF) as f64; // finite, positive
            history.push((step, loss, f64::from_bits(x >> 2)));
        }
        let progress = Progress { history, ..Default::default() };
        let back: Progress = serde_json::from_str(&serde_json::to_string(&progress).unwrap()).unwrap();
        for (a, b) in progress.history.iter().zip(&back.history) {
            assert!(a.1.to_bits() == b.1.to_bits() && a.2.to_bits() == b.2.to_bits(), "{a:?} came back as {b:?}");
        }
    }
}
