//! `hybrid-ir study`: reads the sweep's per-model results, writes `study.json` and `study.md`,
//! and refreshes the generated block of RESULTS.md.

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
    /// Bootstrap resamples of the paired intervals.
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A markdown file whose block between `<!-- study:begin -->` and `<!-- study:end -->` is
    /// replaced by the generated tables (e.g. RESULTS.md).
    #[arg(long)]
    update: Option<PathBuf>,
}

const BEGIN: &str = "<!-- study:begin -->";
const END: &str = "<!-- study:end -->";

/// `text` with the block between the markers replaced by `block`.
fn splice(text: &str, block: &str) -> Option<String> {
    let a = text.find(BEGIN)? + BEGIN.len();
    let b = a + text[a..].find(END)?;
    Some(format!("{}\n{}\n{}", &text[..a], block.trim_end(), &text[b..]))
}

pub fn study(cmd: StudyCmd) -> Result<(), CliError> {
    let t0 = std::time::Instant::now();
    let models = study::load_results(&cmd.results).map_err(|e| CliError::Usage(e.to_string()))?;
    if models.is_empty() {
        return Err(CliError::Usage(format!("{}: no model results (run `hybrid-ir sweep` first)", cmd.results.display())));
    }
    eprintln!("study: {} models: {}", models.len(), models.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", "));
    let s = study::analyse(&models, cmd.bootstrap, cmd.seed).map_err(|e| CliError::Usage(e.to_string()))?;
    std::fs::create_dir_all(&cmd.out).map_err(|e| CliError::io(cmd.out.display(), e))?;
    let json = serde_json::to_string_pretty(&s).map_err(|e| CliError::Usage(e.to_string()))?;
    crate::train::write_atomic(&cmd.out.join("study.json"), json.as_bytes()).map_err(|e| CliError::Usage(e.to_string()))?;
    let md = study::markdown(&s);
    crate::train::write_atomic(&cmd.out.join("study.md"), md.as_bytes()).map_err(|e| CliError::Usage(e.to_string()))?;
    if let Some(path) = &cmd.update {
        let text = std::fs::read_to_string(path).map_err(|e| CliError::io(path.display(), e))?;
        let new = splice(&text, &md)
            .ok_or_else(|| CliError::Usage(format!("{}: no `{BEGIN}` ... `{END}` block to replace", path.display())))?;
        crate::train::write_atomic(path, new.as_bytes()).map_err(|e| CliError::Usage(e.to_string()))?;
    }
    print!("{md}");
    eprintln!("study: wrote {} and study.md in {:.1} s", cmd.out.join("study.json").display(), t0.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_replaces_only_the_block() {
        let doc = format!("intro\n{BEGIN}\nold\n{END}\noutro\n");
        assert_eq!(splice(&doc, "new\n").unwrap(), format!("intro\n{BEGIN}\nnew\n{END}\noutro\n"));
        assert!(splice("no markers", "x").is_none());
        assert!(splice(&format!("{END} then {BEGIN}"), "x").is_none(), "markers out of order");
    }
}
