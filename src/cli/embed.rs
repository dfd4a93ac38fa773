//! Embedding through the on-disk caches, shared by `eval`, `sweep` and `web-assets`: vectors
//! from the embedding cache (keyed by model), and for checkpoints that share the frozen trunk,
//! trunk features computed once (or loaded from the trunk store) and each model's top layers.

use std::path::PathBuf;
use std::time::Instant;

use super::{progress_bar, CliError};
use crate::encoder::{EncodeError, Encoder};
use crate::rankings::EmbeddingCache;
use crate::tasks::Task;
use crate::tokenize::Role;

/// The embedding cache folder: `--cache-dir`, else $HYBRID_IR_CACHE/embeddings, else
/// ~/.cache/hybrid-ir/embeddings.
pub(crate) fn cache_dir(arg: Option<&PathBuf>) -> PathBuf {
    arg.cloned().unwrap_or_else(|| {
        std::env::var_os("HYBRID_IR_CACHE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/hybrid-ir")))
            .unwrap_or_else(|| PathBuf::from(".cache"))
            .join("embeddings")
    })
}

/// Embeds `texts`, encoding only those not cached yet; returns (vectors, truncated, seconds).
pub(crate) fn embed_cached(
    encoder: &Encoder,
    dir: &std::path::Path,
    texts: &[&str],
    role: Role,
    what: &str,
) -> Result<(Vec<f32>, usize, f64), CliError> {
    let t0 = Instant::now();
    let mut cache = open_cache(dir, &encoder.model_sha256, role, encoder)?;
    let missing = cache.missing(texts);
    let mut truncated = 0;
    if !missing.is_empty() {
        let mut bar = progress_bar(missing.len(), &format!("embedding {what}"));
        // Encode in slices so a long run saves progress to the cache as it goes.
        for chunk in missing.chunks(4096) {
            let slice: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            let emb = encoder.encode(&slice, role, |n| bar.inc(n as u64))?;
            truncated += emb.truncated;
            for (row, t) in slice.iter().enumerate() {
                cache.insert(t, emb.row(row));
            }
            cache.save()?;
        }
        bar.finish_and_clear();
    }
    truncated += truncated_texts(encoder, texts, &missing, role)?;
    let vectors = cache.gather(texts)?;
    Ok((vectors, truncated, t0.elapsed().as_secs_f64()))
}

/// Distinct texts among `texts`, other than those already counted (`counted`: indexes), that the
/// tokenizer cuts at the role's length limit. Truncation belongs to the text, so a report says
/// the same whatever the cache held (it once counted only the texts a run encoded).
pub(crate) fn truncated_texts(encoder: &Encoder, texts: &[&str], counted: &[usize], role: Role) -> Result<usize, CliError> {
    let max_len = encoder.config.max_len(role);
    let mut seen: std::collections::HashSet<&str> = counted.iter().map(|&i| texts[i]).collect();
    let mut truncated = 0;
    for &text in texts {
        if seen.insert(text) && encoder.tokenizer.encode(text, role, max_len).map_err(EncodeError::from)?.1 {
            truncated += 1;
        }
    }
    Ok(truncated)
}

/// Vectors of `texts` for one model whose layers below `split` are the shared trunk: cached
/// vectors from its embedding cache (keyed by `sha`), the rest through the trunk features in
/// `trunk` (computed for all `texts` on first need and kept there for the next model) and the
/// model's own top `layers`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn embed_top(
    encoder: &Encoder,
    dir: &std::path::Path,
    sha: &str,
    layers: &[crate::model::BertLayer],
    split: usize,
    texts: &[&str],
    role: Role,
    what: &str,
    trunk: &mut Option<crate::encoder::Features>,
    store: Option<&crate::encoder::TrunkStore>,
) -> Result<Vec<f32>, CliError> {
    let mut cache = open_cache(dir, sha, role, encoder)?;
    let missing = cache.missing(texts);
    if !missing.is_empty() {
        if trunk.is_none() {
            *trunk = Some(trunk_features(encoder, store, texts, role, split, what)?);
        }
        let feats = trunk.as_ref().expect("computed above");
        let mut bar = progress_bar(missing.len(), what);
        let emb = encoder.encode_features(&feats.select(&missing), layers, |n| bar.inc(n as u64))?;
        bar.finish_and_clear();
        for (row, &i) in missing.iter().enumerate() {
            cache.insert(texts[i], emb.row(row));
        }
        cache.save()?;
    }
    Ok(cache.gather(texts)?)
}

/// Layers `[0, split)` on `texts`: from `store` when it holds them (or computed and stored
/// there), else computed; a progress bar while computing.
pub(crate) fn trunk_features(
    encoder: &Encoder,
    store: Option<&crate::encoder::TrunkStore>,
    texts: &[&str],
    role: Role,
    split: usize,
    what: &str,
) -> Result<crate::encoder::Features, CliError> {
    let mut bar: Option<super::encode::Progress> = None;
    let progress = |n: usize| bar.get_or_insert_with(|| progress_bar(texts.len(), &format!("{what} trunk"))).inc(n as u64);
    let features = match store {
        None => encoder.features(texts, role, split, progress)?,
        Some(store) => {
            let (features, origin) = store.features(encoder, texts, role, split, progress)?;
            match origin {
                crate::encoder::Origin::Loaded => eprintln!("{what}: trunk features from the store"),
                crate::encoder::Origin::Computed => eprintln!("{what}: trunk features computed into the store"),
                crate::encoder::Origin::Replaced(why) => {
                    eprintln!("warning: the stored trunk features of {what} were unreadable ({why}); computed again")
                }
            }
            features
        }
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(features)
}

/// Embeds `texts` with several checkpoints that share every layer below `split` (fine-tuned deltas
/// of one base): the trunk runs once, then each checkpoint's own top layers ([`embed_top`]).
/// Returns, per model, the vectors and the seconds spent (the first model pays for the trunk).
pub(crate) fn embed_shared_trunk(
    encoder: &Encoder,
    dir: &std::path::Path,
    models: &[(String, String, Vec<crate::model::BertLayer>)],
    split: usize,
    texts: &[&str],
    role: Role,
    what: &str,
) -> Result<Vec<(Vec<f32>, f64)>, CliError> {
    let mut trunk = None;
    models
        .iter()
        .map(|(name, sha, layers)| {
            let t0 = Instant::now();
            let v = embed_top(encoder, dir, sha, layers, split, texts, role, &format!("{what} {role:?} {name}"), &mut trunk, None)?;
            Ok((v, t0.elapsed().as_secs_f64()))
        })
        .collect()
}

pub(crate) fn open_cache(dir: &std::path::Path, model_sha256: &str, role: Role, encoder: &Encoder) -> Result<EmbeddingCache, CliError> {
    let role_name = match role {
        Role::Query => "query",
        Role::Passage => "passage",
    };
    Ok(EmbeddingCache::open(dir, model_sha256, crate::encoder::PIPELINE_VERSION, role_name, encoder.config.max_len(role), encoder.dim())?)
}

/// The role pool texts are embedded in: passages, or queries when the pool is the questions.
pub(crate) fn pool_role(task: &Task) -> Role {
    if task.pool_is_queries {
        Role::Query
    } else {
        Role::Passage
    }
}

