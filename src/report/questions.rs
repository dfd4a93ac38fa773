//! Per-question values of one task for one model: what paired comparisons between models
//! (alphas, seeds) resample. A report keeps only cell means; these tables keep every question,
//! so a difference between two checkpoints can be bootstrapped over the same questions.
//!
//! Stored beside a report as gzip'd safetensors: values in [0, 1] as u16 (step 1/65534, so an
//! error below 8e-6; 65535 = not evaluated), bias as f32 (ranks are integers), the index
//! (question ids, languages, cells) as JSON metadata.

use std::collections::HashMap;
use std::io::{Read, Write};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

const SCALE: f32 = 65534.0;
const MISSING: u16 = u16::MAX;
const FORMAT: &str = "hybrid-ir/question-table";

/// Values by row (a cell or a query language) and question index; NaN = not evaluated.
pub type Grid = Vec<Vec<f32>>;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct QuestionIndex {
    pub task: String,
    /// Question ids (`qid`), by question index.
    pub questions: Vec<String>,
    /// Query languages: the rows of the multilingual-pool grids.
    pub langs: Vec<String>,
    /// (query language, pool language) of each row of `cell_ap`; equal = monolingual.
    pub cells: Vec<(String, String)>,
    /// Cluster (article) of each question, by question index, for a bootstrap that resamples
    /// articles; empty: every question is its own cluster (MKQA, and tables written before).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct QuestionTable {
    pub index: QuestionIndex,
    /// AP per mono/cross cell.
    pub cell_ap: Grid,
    /// Multilingual pool, per query language: AP, R@1, R@10, bias (ranks), own-language top (0/1).
    pub multi_ap: Grid,
    pub multi_r1: Grid,
    pub multi_r10: Grid,
    pub bias: Grid,
    pub own_top: Grid,
}

impl QuestionTable {
    /// An empty table (every value missing) for these questions, languages and cells.
    pub fn new(index: QuestionIndex) -> Self {
        let grid = |rows: usize| vec![vec![f32::NAN; index.questions.len()]; rows];
        QuestionTable {
            cell_ap: grid(index.cells.len()),
            multi_ap: grid(index.langs.len()),
            multi_r1: grid(index.langs.len()),
            multi_r10: grid(index.langs.len()),
            bias: grid(index.langs.len()),
            own_top: grid(index.langs.len()),
            index,
        }
    }

    fn unit_grids(&self) -> [(&'static str, &Grid); 5] {
        [
            ("cell_ap", &self.cell_ap),
            ("multi_ap", &self.multi_ap),
            ("multi_r1", &self.multi_r1),
            ("multi_r10", &self.multi_r10),
            ("own_top", &self.own_top),
        ]
    }

    /// Gzip'd safetensors bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, String> {
        let q = self.index.questions.len();
        let mut named: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        for (name, grid) in self.unit_grids() {
            let bytes = grid.iter().flatten().flat_map(|&v| quantise(v).to_le_bytes()).collect();
            named.push((name.into(), Dtype::U16, vec![grid.len(), q], bytes));
        }
        let bias = self.bias.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
        named.push(("bias".into(), Dtype::F32, vec![self.bias.len(), q], bias));
        // The index rides as a U8 tensor: safetensors writes its metadata map in hash order, so
        // a second metadata key would make the bytes differ from run to run.
        let index = serde_json::to_string(&self.index).map_err(|e| e.to_string())?;
        named.push(("index".into(), Dtype::U8, vec![index.len()], index.into_bytes()));
        let views = named
            .iter()
            .map(|(n, dt, shape, b)| TensorView::new(*dt, shape.clone(), b).map(|v| (n.clone(), v)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let meta = HashMap::from([("format".to_string(), FORMAT.to_string())]);
        let raw = safetensors::serialize(views, Some(meta)).map_err(|e| e.to_string())?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&raw).map_err(|e| e.to_string())?;
        gz.finish().map_err(|e| e.to_string())
    }

    /// Reads [`QuestionTable::to_bytes`] output; `what` names the file in errors.
    pub fn from_bytes(gz: &[u8], what: &str) -> Result<Self, String> {
        let bad = |m: String| format!("{what}: {m}");
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(gz).read_to_end(&mut raw).map_err(|e| bad(format!("not gzip: {e}")))?;
        let (_, meta) = SafeTensors::read_metadata(&raw).map_err(|e| bad(e.to_string()))?;
        let meta = meta.metadata().clone().unwrap_or_default();
        if meta.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(bad(format!("not a {FORMAT} file")));
        }
        let st = SafeTensors::deserialize(&raw).map_err(|e| bad(e.to_string()))?;
        // Files written before the index became a tensor hold it in the metadata.
        let index_json = match meta.get("index") {
            Some(text) => text.as_bytes().to_vec(),
            None => st.tensor("index").map_err(|e| bad(format!("no index: {e}")))?.data().to_vec(),
        };
        let index: QuestionIndex = serde_json::from_slice(&index_json).map_err(|e| bad(e.to_string()))?;
        let q = index.questions.len();
        if !index.clusters.is_empty() && index.clusters.len() != q {
            return Err(bad(format!("{} clusters for {q} questions", index.clusters.len())));
        }
        let read = |name: &str, rows: usize, dtype: Dtype| -> Result<Grid, String> {
            let t = st.tensor(name).map_err(|e| bad(format!("{name}: {e}")))?;
            if t.dtype() != dtype || t.shape() != [rows, q] {
                return Err(bad(format!("{name}: expected {dtype:?} [{rows}, {q}], found {:?} {:?}", t.dtype(), t.shape())));
            }
            let values: Vec<f32> = match dtype {
                Dtype::U16 => t.data().chunks_exact(2).map(|b| dequantise(u16::from_le_bytes([b[0], b[1]]))).collect(),
                _ => t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            };
            Ok(values.chunks(q.max(1)).take(rows).map(<[f32]>::to_vec).collect())
        };
        let (cells, langs) = (index.cells.len(), index.langs.len());
        Ok(QuestionTable {
            cell_ap: read("cell_ap", cells, Dtype::U16)?,
            multi_ap: read("multi_ap", langs, Dtype::U16)?,
            multi_r1: read("multi_r1", langs, Dtype::U16)?,
            multi_r10: read("multi_r10", langs, Dtype::U16)?,
            own_top: read("own_top", langs, Dtype::U16)?,
            bias: read("bias", langs, Dtype::F32)?,
            index,
        })
    }
}

fn quantise(v: f32) -> u16 {
    if v.is_finite() {
        (v.clamp(0.0, 1.0) * SCALE).round() as u16
    } else {
        MISSING
    }
}

fn dequantise(v: u16) -> f32 {
    if v == MISSING {
        f32::NAN
    } else {
        v as f32 / SCALE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> QuestionTable {
        let index = QuestionIndex {
            task: "t".into(),
            questions: vec!["q1".into(), "q2".into(), "q3".into()],
            langs: vec!["en".into(), "de".into()],
            cells: vec![("en".into(), "en".into()), ("en".into(), "de".into())],

            ..Default::default()
        };
        let mut t = QuestionTable::new(index);
        t.cell_ap[0] = vec![1.0, 0.25, f32::NAN];
        t.cell_ap[1] = vec![0.0, 0.123456, 0.5];
        t.multi_ap[1][2] = 0.75;
        t.bias[0] = vec![0.0, 17.0, 25354.0];
        t.own_top[0][1] = 1.0;
        t
    }

    #[test]
    fn round_trips_within_the_quantisation_step() {
        let t = table();
        let back = QuestionTable::from_bytes(&t.to_bytes().unwrap(), "mem").unwrap();
        assert_eq!(back.index, t.index);
        assert!(back.cell_ap[0][2].is_nan() && back.multi_ap[0][0].is_nan());
        assert_eq!(back.bias[0], t.bias[0], "bias is stored exactly");
        assert!(back.bias[1].iter().all(|v| v.is_nan()));
        for (a, b) in t.cell_ap.iter().flatten().zip(back.cell_ap.iter().flatten()).filter(|(a, _)| a.is_finite()) {
            assert!((a - b).abs() <= 0.5 / SCALE + 1e-7, "{a} vs {b}");
        }
        assert!((back.multi_ap[1][2] - 0.75).abs() <= 0.5 / SCALE);
        assert_eq!(back.own_top[0][1], 1.0);
    }

    #[test]
    fn the_same_table_always_gives_the_same_bytes() {
        // Found by tests/faults.rs: with two metadata keys the file's bytes followed hash order.
        let first = table().to_bytes().unwrap();
        for _ in 0..20 {
            assert_eq!(table().to_bytes().unwrap(), first);
        }
    }

    #[test]
    fn damaged_bytes_are_errors_not_panics() {
        let bytes = table().to_bytes().unwrap();
        assert!(QuestionTable::from_bytes(&bytes[..bytes.len() / 2], "half.gz").unwrap_err().contains("half.gz"));
        assert!(QuestionTable::from_bytes(b"not gzip", "x").is_err());
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut raw).unwrap();
        for cut in (0..raw.len()).step_by(97) {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&raw[..cut]).unwrap();
            assert!(QuestionTable::from_bytes(&gz.finish().unwrap(), "cut").is_err(), "cut at {cut}");
        }
    }
}
