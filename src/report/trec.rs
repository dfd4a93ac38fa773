//! TREC run and qrels text, one pair per (setting, query language[, pool language]).

use std::collections::BTreeMap;

/// File stem -> (run text, qrels text). Stems: `<task>.mono.<X>`, `<task>.cross.<X>-<Y>`,
/// `<task>.multi.<X>`.
#[derive(Debug, Default)]
pub struct TrecFiles {
    pub files: BTreeMap<String, (String, String)>,
    /// Stem -> query id -> trec_eval-comparable metrics, for the oracle check.
    pub per_query: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
}

impl TrecFiles {
    pub fn add(&mut self, stem: &str, query: &str, ranked: &[(String, f32)], relevant: &[&str], m: &crate::metrics::QueryMetrics) {
        let (run, qrels) = self.files.entry(stem.to_string()).or_default();
        for (rank, (doc, score)) in ranked.iter().enumerate() {
            // {:e} of an f32 prints the shortest string that reads back to the same f32, so
            // trec_eval sees exactly our scores (and our tie order, see rankings).
            run.push_str(&format!("{query} Q0 {doc} {} {:e} hybrid-ir\n", rank + 1, score));
        }
        for doc in relevant {
            qrels.push_str(&format!("{query} 0 {doc} 1\n"));
        }
        self.per_query.entry(stem.to_string()).or_default().insert(
            query.to_string(),
            serde_json::json!({"map": m.map, "ndcg_cut_10": m.ndcg10, "recall_10": m.recall10_trec, "recip_rank": m.rr}),
        );
    }

    /// Writes `DIR/<stem>.run`, `DIR/<stem>.qrels` and `DIR/per_query.json`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn write(&self, dir: &std::path::Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for (stem, (run, qrels)) in &self.files {
            crate::files::write_atomic(&dir.join(format!("{stem}.run")), run.as_bytes())?;
            crate::files::write_atomic(&dir.join(format!("{stem}.qrels")), qrels.as_bytes())?;
        }
        let mut all: serde_json::Map<String, serde_json::Value> = serde_json::Map::new();
        if let Ok(old) = std::fs::read_to_string(dir.join("per_query.json")) {
            if let Ok(serde_json::Value::Object(m)) = serde_json::from_str(&old) {
                all = m;
            }
        }
        for (stem, q) in &self.per_query {
            all.insert(stem.clone(), serde_json::to_value(q).unwrap_or_default());
        }
        crate::files::write_atomic(&dir.join("per_query.json"), serde_json::to_string(&all).unwrap_or_default().as_bytes())
    }
}
