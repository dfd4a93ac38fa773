//! The `hybrid-ir` command line (native only).

mod bundle;
mod embed;
mod encode;
mod eval;
mod export;
mod import;
mod matrix;
mod npy;
mod paths;
mod reproduce;
mod study;
mod sweep;
mod train;
mod web_assets;

use clap::{Parser, Subcommand};
use thiserror::Error;

use crate::encoder::{BackendKind, EncodeError, EncoderConfig};
use crate::model::ModelError;
use crate::rankings::CacheError;
use crate::sources::SourceError;
use crate::study::StudyError;
use crate::train::TrainError;

/// Every failure of a command: the layer's own error passed through, or one of the command line's.
#[derive(Debug, Error)]
pub enum CliError {
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Study(#[from] StudyError),
    #[error(transparent)]
    Interop(#[from] crate::interop::InteropError),
    #[error(transparent)]
    SweepFile(#[from] crate::sweep::SweepFileError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A file the command reads or writes is not the JSON it should be.
    #[error("{what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// A web bundle that does not match its manifest, or lacks what was asked of it.
    #[error("{0}")]
    Bundle(String),
    /// Arguments that cannot work together, or inputs the user must change.
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    pub(crate) fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        CliError::Io { path: path.to_string(), source }
    }

    pub(crate) fn json(what: impl std::fmt::Display, source: serde_json::Error) -> Self {
        CliError::Json { what: what.to_string(), source }
    }
}

/// [`crate::files::write_atomic`] with the path in the error.
pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<(), CliError> {
    crate::files::write_atomic(path, bytes).map_err(|e| CliError::io(path.display(), e))
}

#[derive(Parser, Debug)]
#[command(name = "hybrid-ir", version, about = "Multilingual dense retrieval with hybrid-batch fine-tuned encoders")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the model comes from and how it runs; shared by every subcommand that encodes.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// `base` (the pretrained encoder from `scripts/fetch-model`), an E5S1 file, or a Hugging Face
    /// folder with config.json + model.safetensors.
    #[arg(long, default_value = "base")]
    pub model: String,
    /// tokenizer.json; defaults to the one beside the model (or in the base model folder).
    #[arg(long)]
    pub tokenizer: Option<std::path::PathBuf>,
    /// Burn backend that runs the encoder.
    #[arg(long, value_enum, default_value_t = BackendKind::Flex)]
    pub backend: BackendKind,
    /// Texts per forward pass.
    #[arg(long, default_value_t = EncoderConfig::new().batch_size)]
    pub batch_size: usize,
    /// Batches encoded side by side, each on its own thread (the matrix products of each may
    /// use more: RAYON_NUM_THREADS); 1 for a one-core measurement.
    #[arg(long, default_value_t = EncoderConfig::new().workers)]
    pub workers: usize,
    /// Maximum tokens per query (specials included); longer ones are cut and counted.
    #[arg(long, default_value_t = EncoderConfig::new().max_len_query)]
    pub max_len_query: usize,
    /// Maximum tokens per passage (specials included).
    #[arg(long, default_value_t = EncoderConfig::new().max_len_passage)]
    pub max_len_passage: usize,
}

// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Encode one text per line (stdin or --input) into embeddings: one JSON array per line on
    /// stdout, or a float32 .npy matrix with --output.
    Encode(encode::EncodeArgs),
    /// Rank the lines of a pool file against a query by cosine similarity.
    Search(encode::SearchArgs),
    /// Where each language's answer to one question lands when the question is asked in each
    /// of its languages: the web page's bias matrix, computed natively on its bundle.
    BiasMatrix(matrix::MatrixArgs),
    /// Evaluate a model on the retrieval tasks (mono / cross / multi settings).
    Eval(eval::EvalArgs),
    /// The web page's "Reproduce" run, natively on its bundle: a task's sample (or the whole
    /// task) encoded by the page's engine, scored, and held against the bundle's reference
    /// figures (committed results) with the page's tolerances.
    Reproduce(reproduce::ReproduceArgs),
    /// Write a checkpoint as a folder sentence-transformers and transformers load (Hugging Face
    /// BertModel, mean pooling, normalisation, query/passage prompts, model card).
    Export(export::ExportArgs),
    /// Read a Hugging Face / sentence-transformers folder of a multilingual-e5-small fine-tune
    /// into a checkpoint folder (f16 deltas of the layers that differ from the base).
    Import(import::ImportArgs),
    /// Fine-tune the top layers with hybrid batches (share --alpha of monolingual batches);
    /// resumable: rerun the same command after an interruption.
    Train(train::TrainCmd),
    /// The alpha x seed grid: train and evaluate one cell at a time (resumable; finished cells
    /// are skipped), results per model in results/sweep/.
    Sweep(sweep::SweepCmd),
    /// Paired statistics over the sweep's results: seed spread, paired bootstrap differences
    /// between alphas, trends, pair tables, the paper's claims (results/study/).
    Study(study::StudyCmd),
    /// Build what the web page downloads (pruned model, pools embedded per checkpoint, examples,
    /// results) into www/assets, with a sha256 manifest and the measured cost of compression.
    WebAssets(web_assets::WebAssetsArgs),
}

pub fn run() -> Result<(), CliError> {
    let cli = Cli::parse();
    match cli.command {
        Command::Encode(args) => encode::encode(args),
        Command::Search(args) => encode::search(args),
        Command::BiasMatrix(args) => matrix::bias_matrix(args),
        Command::Eval(args) => eval::eval(args),
        Command::Reproduce(args) => reproduce::reproduce(args),
        Command::Export(args) => export::export(args),
        Command::Import(args) => import::import(args),
        Command::Train(args) => train::train(args),
        Command::Sweep(args) => sweep::sweep(args),
        Command::Study(args) => study::study(args),
        Command::WebAssets(args) => web_assets::web_assets(args),
    }
}

pub use encode::progress_bar;
pub use paths::{load_checkpoint, load_encoder};

/// Writes `dir/<task>.questions.st.gz` atomically.
pub(crate) fn write_questions(dir: &std::path::Path, table: &crate::report::QuestionTable) -> Result<(), CliError> {
    let bytes = table.to_bytes().map_err(CliError::Usage)?;
    write_atomic(&dir.join(crate::study::questions_file(&table.index.task)), &bytes)
}

pub(crate) fn print_counts(task: &crate::tasks::Task) {
    let counts = crate::tasks::counts(task);
    let line = counts.iter().map(|(l, (q, p))| format!("{l} {q}/{p}")).collect::<Vec<_>>().join(", ");
    eprintln!(
        "{}: {} queries, {} pool candidates (per language queries/pool: {line})",
        task.kind.name(),
        task.queries.len(),
        task.pool.len()
    );
}

/// The commit this binary was built from (reports, bundles and run logs cite it).
pub(crate) fn git_commit() -> String {
    // Set by build.rs: the commit this binary was built from.
    env!("HYBRID_IR_GIT_COMMIT").to_string()
}
