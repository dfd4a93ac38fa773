//! `hybrid-ir bias-matrix`: the page's language-bias matrix of one bundle question, natively:
//! the same bundle files, put together and ranked by the same `assets::engine` code as the
//! browser's worker. For parity checks (scripts/e2e) and for showing the effect without a browser.

use std::io::Write;
use std::path::PathBuf;

use super::bundle::PageEngine;
use super::{CliError, ModelArgs};
use crate::assets::{default_matrix_question, engine, matrix_queries, matrix_questions, question_versions};
use crate::metrics::LanguageMatrix;

#[derive(clap::Args, Debug)]
pub struct MatrixArgs {
    /// The web bundle: a folder with manifest.json, as `hybrid-ir web-assets` writes it.
    #[arg(long, default_value = "www/assets")]
    assets: PathBuf,
    /// Model of the bundle (default: the bundle's default model).
    #[arg(long)]
    bundle_model: Option<String>,
    /// Question id from the bundle's examples (default: the page's, the first of the XQuAD-R
    /// pool; `--list` shows them).
    #[arg(long)]
    question: Option<String>,
    /// List the questions a matrix can be drawn for, and stop.
    #[arg(long)]
    list: bool,
    /// Print the matrix as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// With --json, add `band`: each cell's lowest and highest rank when every score may move
    /// by up to half this (another engine's float rounding; the page's scores differ from
    /// native ones by at most 1.5e-7, bench-browser's `max_score_diff_to_native`), for
    /// comparing engines without failing on near-ties.
    #[arg(long, requires = "json", value_parser = non_negative)]
    tolerance: Option<f32>,
    #[command(flatten)]
    model: ModelArgs,
}

pub fn bias_matrix(args: MatrixArgs) -> Result<(), CliError> {
    let mut page = PageEngine::open(&args.assets, args.bundle_model.as_deref(), &args.model)?;
    let examples = page.examples()?;
    let questions = matrix_questions(&examples);
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    let out = |e| CliError::io("<stdout>", e);
    if args.list {
        for (qid, pool, n) in &questions {
            let en = examples.iter().find(|e| e.qid == *qid && e.lang == "en").map(|e| e.text.as_str()).unwrap_or("");
            writeln!(w, "{qid}\t{pool}\t{n} languages\t{en}").map_err(out)?;
        }
        return Ok(());
    }
    let qid = match &args.question {
        Some(q) => q.clone(),
        None => default_matrix_question(&examples).map(str::to_string).ok_or_else(|| CliError::Bundle(format!("{}: no question asked in several languages", args.assets.display())))?,
    };
    let (pool, versions) = question_versions(&examples, &qid).map_err(|e| CliError::Usage(format!("{e}; `hybrid-ir bias-matrix --list` shows the questions")))?;
    let (langs, texts): (Vec<String>, Vec<String>) = matrix_queries(&versions).into_iter().unzip();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let queries = page.encode(&texts, crate::tokenize::Role::Query, |_| {})?;
    let (cand_langs, names) = engine::pool_langs(&page.pool_texts(pool)?);
    let vectors = page.pool_vectors(pool)?;
    let question = engine::MatrixQuestion { queries: &queries, query_langs: &langs, vectors: &vectors, langs: &cand_langs, lang_names: &names, relevant: &versions[0].relevant };
    let m = question.matrix().map_err(CliError::Bundle)?;
    if args.json {
        let mut json = serde_json::to_value(&m).map_err(|e| CliError::json("the matrix", e))?;
        if let Some(tolerance) = args.tolerance {
            let (low, high) = question.band(tolerance).map_err(CliError::Bundle)?;
            json["band"] = serde_json::json!({ "tolerance": tolerance, "low": low.ranks, "high": high.ranks });
        }
        writeln!(w, "{json}").map_err(out)?;
    } else {
        write_table(&mut w, &m).map_err(out)?;
        eprintln!("question {qid}, {} model {}, pool {pool} of {} candidates", args.assets.display(), page.model.name, cand_langs.len());
    }
    Ok(())
}

fn write_table(w: &mut impl Write, m: &LanguageMatrix) -> std::io::Result<()> {
    write!(w, "{:>7}", "q \\ a")?;
    for a in &m.answer_langs {
        write!(w, " {a:>6}")?;
    }
    writeln!(w)?;
    for (q, row) in m.query_langs.iter().zip(&m.ranks) {
        write!(w, "{q:>7}")?;
        for (a, cell) in m.answer_langs.iter().zip(row) {
            let text = cell.map(|r| if a == q { format!("[{r}]") } else { r.to_string() }).unwrap_or_else(|| "-".into());
            write!(w, " {text:>6}")?;
        }
        writeln!(w)?;
    }
    let (first, with_own) = m.own_language_first();
    let (own, other) = m.median_ranks();
    let f = |v: Option<f64>| v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "-".into());
    writeln!(w, "own language first in {} of {with_own} rows; median rank own {} / other {}; mean bias {}", crate::metrics::count_text(first), f(own), f(other), f(m.mean_bias()))
}

fn non_negative(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(t) if t >= 0.0 && t.is_finite() => Ok(t),
        _ => Err(format!("{s:?} is not a finite number >= 0 (a score difference, e.g. 1e-5)")),
    }
}
