//! `hybrid-ir study`: reads the sweep's per-model results, writes `study.json`, `study.md` and
//! `pairs-<task>.csv` (every ordered language pair across alphas), and refreshes the generated
//! blocks of RESULTS.md / README.md.

use std::path::PathBuf;

use super::CliError;
use crate::study;

#[derive(clap::Args, Debug)]
pub struct StudyCmd {
    /// The sweep's results folder (one folder per model).
    #[arg(long, default_value = "results/sweep")]
    results: PathBuf,
    /// Where study.json and study.md go.
    #[arg(long, default_value = "results/study")]
    out: PathBuf,
    /// Bootstrap resamples of the paired intervals (each: seeds, then questions or articles).
    #[arg(long, default_value_t = 10_000)]
    bootstrap: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// An earlier study's claims (`hybrid-ir/previous-claims` JSON): the `study-changes` block
    /// lists the verdicts that moved since. Skipped when the file does not exist.
    #[arg(long, default_value = "results/study/claims-3-seed.json")]
    previous: PathBuf,
    /// Markdown files to refresh (repeatable): the block between `<!-- study:begin -->` and
    /// `<!-- study:end -->` gets every table, the one between `<!-- study-claims:begin -->` and
    /// `<!-- study-claims:end -->` the claims table, `study-summary` the findings in sentences
    /// (e.g. RESULTS.md and README.md).
    #[arg(long)]
    update: Vec<PathBuf>,
    /// Prefix of the markdown blocks `--update` refreshes (`NAME`, `NAME-claims`, ...): another
    /// name keeps a block's study (e.g. `fixed-budget`) out of the main study's blocks.
    #[arg(long, default_value = "study")]
    name: String,
    /// With snapshot folders in --results (`step-N/`, from `sweep --snapshots`): the results
    /// folder of the grid whose differences each step is held against (e.g. results/sweep).
    #[arg(long)]
    reference: Option<PathBuf>,
}

/// The learning curve over the snapshot folders of `--results` (none: empty), written to
/// `curve.json` / `curve.md` in `--out`; returns its markdown.
fn learning_curve(cmd: &StudyCmd) -> Result<String, CliError> {
    let folders = study::step_folders(&cmd.results)?;
    if folders.is_empty() {
        return Ok(String::new());
    }
    let mut steps = Vec::new();
    for (step, dir) in folders {
        let models = study::load_results(&dir)?;
        eprintln!("study: step {step}: {} models", models.len());
        steps.push((step, study::analyse(&models, cmd.bootstrap, cmd.seed)?));
    }
    let reference = match &cmd.reference {
        Some(dir) => Some(study::analyse(&study::load_results(dir)?, cmd.bootstrap, cmd.seed)?),
        None => None,
    };
    let curve = study::curve(&steps, reference.as_ref());
    let json = serde_json::to_string_pretty(&curve).map_err(|e| CliError::json("curve.json", e))?;
    super::write_atomic(&cmd.out.join("curve.json"), json.as_bytes())?;
    let md = study::curve_markdown(&curve);
    super::write_atomic(&cmd.out.join("curve.md"), md.as_bytes())?;
    eprintln!("study: learning curve over steps {:?} in {}", curve.steps, cmd.out.join("curve.json").display());
    Ok(md)
}

/// `text` with the block between `<!-- NAME:begin -->` and `<!-- NAME:end -->` replaced by
/// `block`; None when the markers are absent or out of order.
fn splice(text: &str, name: &str, block: &str) -> Option<String> {
    let (begin, end) = (format!("<!-- {name}:begin -->"), format!("<!-- {name}:end -->"));
    let a = text.find(&begin)? + begin.len();
    let b = a + text[a..].find(&end)?;
    Some(format!("{}\n{}\n{}", &text[..a], block.trim_end(), &text[b..]))
}

pub fn study(cmd: StudyCmd) -> Result<(), CliError> {
    let t0 = std::time::Instant::now();
    let models = study::load_results(&cmd.results)?;
    if models.is_empty() {
        return Err(CliError::Usage(format!("{}: no model results (run `hybrid-ir sweep` first)", cmd.results.display())));
    }
    eprintln!("study: {} models: {}", models.len(), models.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", "));
    let s = study::analyse(&models, cmd.bootstrap, cmd.seed)?;
    std::fs::create_dir_all(&cmd.out).map_err(|e| CliError::io(cmd.out.display(), e))?;
    let json = serde_json::to_string_pretty(&s).map_err(|e| CliError::json("study.json", e))?;
    super::write_atomic(&cmd.out.join("study.json"), json.as_bytes())?;
    for t in s.tasks.iter().filter(|t| !t.pairs.is_empty()) {
        // Every ordered pair's Cr. mAP (base, seed mean and sd per alpha) and R@1.
        let mut csv = String::from("query,pool,base_map");
        for a in &t.alphas {
            csv += &format!(",alpha_{0}_map_mean,alpha_{0}_map_sd", a.alpha);
        }
        csv += ",base_r1";
        for a in &t.alphas {
            csv += &format!(",alpha_{}_r1_mean", a.alpha);
        }
        csv.push('\n');
        for p in &t.pairs {
            csv += &format!("{},{},{:.5}", p.query, p.pool, p.base);
            for (m, sd) in p.mean.iter().zip(&p.sd) {
                csv += &format!(",{m:.5},{sd:.5}");
            }
            csv += &format!(",{:.5}", p.r1_base);
            for r in &p.r1_mean {
                csv += &format!(",{r:.5}");
            }
            csv.push('\n');
        }
        let path = cmd.out.join(format!("pairs-{}.csv", t.task));
        super::write_atomic(&path, csv.as_bytes())?;
    }
    let md = study::markdown(&s);
    super::write_atomic(&cmd.out.join("study.md"), md.as_bytes())?;
    let claims = study::claims_markdown(&s);
    let summary = study::summary_markdown(&s);
    let curve = learning_curve(&cmd)?;
    let changes = match std::fs::read_to_string(&cmd.previous) {
        Ok(text) => {
            let previous: study::PreviousClaims = serde_json::from_str(&text).map_err(|e| CliError::json(cmd.previous.display().to_string(), e))?;
            study::changes_markdown(&s, &previous)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(CliError::io(cmd.previous.display(), e)),
    };
    for path in &cmd.update {
        let text = std::fs::read_to_string(path).map_err(|e| CliError::io(path.display(), e))?;
        let mut new = text.clone();
        let n = &cmd.name;
        for (suffix, block) in [("", &md), ("-claims", &claims), ("-summary", &summary), ("-changes", &changes), ("-curve", &curve)] {
            if let Some(t) = splice(&new, &format!("{n}{suffix}"), block) {
                new = t;
            }
        }
        if new == text && !text.contains(&format!("<!-- {n}")) {
            return Err(CliError::Usage(format!(
                "{}: no `<!-- {n}:begin -->` or `<!-- {n}-claims:begin -->` block (with its `:end`) to replace",
                path.display()
            )));
        }
        super::write_atomic(path, new.as_bytes())?;
        eprintln!("study: refreshed {}", path.display());
    }
    print!("{md}");
    eprintln!("study: wrote {} and study.md in {:.1} s", cmd.out.join("study.json").display(), t0.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_replaces_only_the_named_block() {
        let doc = "intro\n<!-- study:begin -->\nold\n<!-- study:end -->\nmid\n<!-- study-claims:begin -->\nc\n<!-- study-claims:end -->\n";
        let once = splice(doc, "study", "new\n").unwrap();
        assert_eq!(once, doc.replace("\nold\n", "\nnew\n"));
        assert_eq!(splice(&once, "study-claims", "C").unwrap(), once.replace("\nc\n", "\nC\n"));
        assert!(splice("no markers", "study", "x").is_none());
        assert!(splice("<!-- study:end --> then <!-- study:begin -->", "study", "x").is_none(), "markers out of order");
    }
}
