//! `hybrid-ir export`: a checkpoint as a sentence-transformers / Hugging Face folder.

use std::path::{Path, PathBuf};

use super::paths::resolve;
use super::{load_checkpoint, CliError};
use crate::interop::{export_sentence_transformers, ExportDtype, ExportOptions, Provenance};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A Hugging Face BertModel folder with sentence-transformers' pooling, normalisation and
    /// prompts, and a model card.
    SentenceTransformers,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The checkpoint: `base`, an E5S1 file, or a fine-tuned checkpoint folder.
    #[arg(long, default_value = "base")]
    model: String,
    #[arg(long, value_enum, default_value_t = Format::SentenceTransformers)]
    format: Format,
    /// Weights precision.
    #[arg(long, value_enum, default_value_t = ExportDtype::F32)]
    dtype: ExportDtype,
    /// The folder to write (new or empty).
    #[arg(long)]
    out: PathBuf,
    /// The report whose held-out figures the model card quotes (default: the sweep's report of
    /// this checkpoint, results/sweep/<folder name>/report.json, when there is one).
    #[arg(long)]
    report: Option<PathBuf>,
    /// tokenizer.json (default: beside the model, else the base model's).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
}

pub fn export(args: ExportArgs) -> Result<(), CliError> {
    let Format::SentenceTransformers = args.format;
    let ckpt = load_checkpoint(&args.model)?;
    let (_, tokenizer) = resolve(if Path::new(&args.model).join(crate::model::DELTA_MANIFEST).exists() { "base" } else { &args.model }, args.tokenizer.as_deref())?;
    let manifest_path = Path::new(&args.model).join(crate::model::DELTA_MANIFEST);
    let manifest = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => Some(crate::model::parse_manifest(&text, &manifest_path.display().to_string())?),
        Err(_) => None,
    };
    let name = Path::new(&args.model).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let report_path = args.report.clone().or_else(|| {
        let p = PathBuf::from("results/sweep").join(if args.model == "base" { "base" } else { &name }).join("report.json");
        p.exists().then_some(p)
    });
    let figures = match &report_path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| CliError::io(p.display(), e))?;
            let report: crate::report::Report = serde_json::from_str(&text).map_err(|e| CliError::json(p.display(), e))?;
            if report.model.sha256 != ckpt.sha256 {
                return Err(CliError::Usage(format!(
                    "{} is the report of another model (sha256 {}, this checkpoint {}); pass --report",
                    p.display(),
                    report.model.sha256,
                    ckpt.sha256
                )));
            }
            report.tasks.iter().filter(|t| t.labelled).map(|t| (t.task.clone(), t.macro_avg.mono.map, t.macro_avg.cross.map, t.macro_avg.multi.map, t.bias.mean)).collect()
        }
        None => Vec::new(),
    };
    let opts = ExportOptions {
        dtype: args.dtype,
        tokenizer,
        provenance: Provenance { source: args.model.clone(), manifest, figures, git_commit: super::git_commit() },
    };
    let t0 = std::time::Instant::now();
    let files = export_sentence_transformers(&ckpt, &args.out, &opts)?;
    for f in &files {
        let bytes = std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
        println!("{}\t{bytes}", f.display());
    }
    eprintln!("export: {} files in {} ({:.1} s)", files.len(), args.out.display(), t0.elapsed().as_secs_f64());
    Ok(())
}
