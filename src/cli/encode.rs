//! `encode` and `search`: the one-line ways to try the model.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use super::{load_encoder, npy, CliError, ModelArgs};
use crate::tokenize::Role;

#[derive(clap::Args, Debug)]
pub struct EncodeArgs {
    /// Prefix and length limit to apply: `query` or `passage`.
    #[arg(long = "as", value_name = "ROLE", default_value = "query")]
    role: Role,
    /// Read texts from this file (one per line) instead of stdin.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Write a float32 .npy matrix here instead of JSON lines on stdout.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Then encode each text alone, as a search does, after one unmeasured warm-up, and write
    /// each one's wall time in ms here as a JSON array (query latency, for benches).
    #[arg(long, value_name = "FILE")]
    latencies: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
}

#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    /// The query text.
    query: String,
    /// File with one candidate passage per line.
    #[arg(long, required_unless_present = "assets")]
    pool: Option<PathBuf>,
    /// Search the web page's bundle instead (folder with manifest.json): its pruned model and
    /// int8 pool, ranked by the same code as the browser; prints candidate ids (parity checks).
    #[arg(long, conflicts_with = "pool")]
    assets: Option<PathBuf>,
    /// Model of the bundle (default: the bundle's default model).
    #[arg(long, requires = "assets")]
    bundle_model: Option<String>,
    /// Pool of the bundle.
    #[arg(long, requires = "assets", default_value = "mkqa")]
    bundle_pool: String,
    /// How many results to print.
    #[arg(long, default_value_t = 10)]
    top: usize,
    #[command(flatten)]
    model: ModelArgs,
}

/// Reads lines; every line (empty ones too) is one text, so outputs line up with inputs.
fn read_lines(input: Option<&PathBuf>) -> Result<Vec<String>, CliError> {
    let name = input.map(|p| p.display().to_string()).unwrap_or_else(|| "<stdin>".into());
    let reader: Box<dyn BufRead> = match input {
        Some(p) => Box::new(std::io::BufReader::new(std::fs::File::open(p).map_err(|e| CliError::io(&name, e))?)),
        None => Box::new(std::io::stdin().lock()),
    };
    let mut lines = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| CliError::io(format!("{name} line {}", n + 1), e))?;
        lines.push(line.strip_suffix('\r').map(str::to_string).unwrap_or(line));
    }
    Ok(lines)
}

/// A progress bar on a terminal; in a log (stderr not a terminal) a line every 10%, so long
/// unattended runs still show where they are.
pub struct Progress {
    bar: indicatif::ProgressBar,
    log: Option<(String, u64, u64, u64)>,
}

impl Progress {
    pub fn inc(&mut self, n: u64) {
        self.bar.inc(n);
        if let Some((what, total, done, next)) = &mut self.log {
            *done += n;
            while *total > 0 && *done * 10 >= *next * *total && *next <= 10 {
                eprintln!("{what}: {}% ({done}/{total})", *next * 10);
                *next += 1;
            }
        }
    }
    pub fn message(&self, m: String) {
        self.bar.set_message(m);
    }
    pub fn finish_and_clear(&self) {
        self.bar.finish_and_clear();
    }
}

pub fn progress_bar(total: usize, what: &str) -> Progress {
    use std::io::IsTerminal;
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} [{elapsed} < {eta}, {per_sec}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(what.to_string());
    let log = (!std::io::stderr().is_terminal() && total >= 1000).then(|| (what.to_string(), total as u64, 0, 1));
    Progress { bar, log }
}

pub fn encode(args: EncodeArgs) -> Result<(), CliError> {
    let texts = read_lines(args.input.as_ref())?;
    let t_load = Instant::now();
    let encoder = load_encoder(&args.model)?;
    let load_s = t_load.elapsed().as_secs_f64();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut bar = progress_bar(refs.len(), "encoding");
    let t0 = Instant::now();
    let emb = encoder.encode(&refs, args.role, |n| bar.inc(n as u64))?;
    let secs = t0.elapsed().as_secs_f64();
    bar.finish_and_clear();
    match &args.output {
        Some(path) => {
            crate::files::write_atomic_with(path, |w| npy::write_f32_matrix(w, &emb.data, emb.len(), emb.dim))
                .map_err(|e| CliError::io(path.display(), e))?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut w = BufWriter::new(stdout.lock());
            for i in 0..emb.len() {
                serde_json::to_writer(&mut w, emb.row(i)).map_err(|e| CliError::io("<stdout>", e.into()))?;
                w.write_all(b"\n").map_err(|e| CliError::io("<stdout>", e))?;
            }
            w.flush().map_err(|e| CliError::io("<stdout>", e))?;
        }
    }
    if let Some(path) = &args.latencies {
        let ms = one_at_a_time(&encoder, &refs, args.role)?;
        let json = serde_json::to_vec(&ms).map_err(|e| CliError::io(path.display(), e.into()))?;
        crate::files::write_atomic(path, &json).map_err(|e| CliError::io(path.display(), e))?;
    }
    eprintln!(
        "encoded {} texts as {:?} in {:.3} s ({:.1} texts/s; model load {:.2} s; backend {}; batch {}); truncated: {}",
        emb.len(),
        args.role,
        secs,
        emb.len() as f64 / secs.max(1e-9),
        load_s,
        args.model.backend,
        args.model.batch_size,
        emb.truncated
    );
    Ok(())
}

/// Wall ms of each text encoded alone; the first text once more before, unmeasured.
fn one_at_a_time(encoder: &crate::encoder::Encoder, texts: &[&str], role: Role) -> Result<Vec<f64>, CliError> {
    if let Some(first) = texts.first() {
        encoder.encode(&[first], role, |_| {})?;
    }
    let mut ms = Vec::with_capacity(texts.len());
    for t in texts {
        let t0 = Instant::now();
        encoder.encode(&[t], role, |_| {})?;
        ms.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    Ok(ms)
}

pub fn search(args: SearchArgs) -> Result<(), CliError> {
    if let Some(dir) = &args.assets {
        return search_bundle(&args, dir);
    }
    let pool = read_lines(args.pool.as_ref())?;
    let encoder = load_encoder(&args.model)?;
    let refs: Vec<&str> = pool.iter().map(String::as_str).collect();
    let mut bar = progress_bar(refs.len(), "encoding pool");
    let docs = encoder.encode(&refs, Role::Passage, |n| bar.inc(n as u64))?;
    bar.finish_and_clear();
    let t0 = Instant::now();
    let query = encoder.encode(&[args.query.as_str()], Role::Query, |_| {})?;
    let query_ms = t0.elapsed().as_secs_f64() * 1e3;
    let q = query.row(0);
    let mut scored: Vec<(f32, usize)> = (0..docs.len())
        .map(|i| (docs.row(i).iter().zip(q).map(|(a, b)| a * b).sum::<f32>(), i))
        .collect();
    // Highest score first; ties (the same text on two lines) by the later line first, trec_eval's
    // order, as in every ranking of the crate (`rankings`), so this equals the page's order.
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    for (rank, (score, i)) in scored.iter().take(args.top).enumerate() {
        writeln!(w, "{:>3}  {:.4}  line {:<6} {}", rank + 1, score, i + 1, pool[*i]).map_err(|e| CliError::io("<stdout>", e))?;
    }
    eprintln!("query encoded in {query_ms:.1} ms; {} pool texts, {} truncated", docs.len(), docs.truncated);
    Ok(())
}

/// `search --assets`: what the browser computes, natively (same files, same code).
fn search_bundle(args: &SearchArgs, dir: &std::path::Path) -> Result<(), CliError> {
    use crate::assets::engine;
    let mut page = super::bundle::PageEngine::open(dir, args.bundle_model.as_deref(), &args.model)?;
    let model = page.model.name.clone();
    let texts = page.pool_texts(&args.bundle_pool)?;
    let vectors = page.pool_vectors(&args.bundle_pool)?;
    let (langs, lang_names) = engine::pool_langs(&texts);
    // Timed like the page's: word shards are read first, then the query is encoded.
    page.load_words(&[args.query.as_str()], Role::Query)?;
    let t0 = Instant::now();
    let q = page.encoder.encode(&[args.query.as_str()], Role::Query, |_| {})?.data;
    let query_ms = t0.elapsed().as_secs_f64() * 1e3;
    let ranked = engine::rank(&q, &vectors, &langs, lang_names.len(), &[], args.top).map_err(CliError::Bundle)?;
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    for (rank, (c, score)) in ranked.top_multi.iter().enumerate() {
        let i = *c as usize;
        writeln!(w, "{:>3}  {:.4}  {:<12} {}", rank + 1, score, texts.ids[i], texts.texts[i]).map_err(|e| CliError::io("<stdout>", e))?;
    }
    eprintln!(
        "query encoded in {query_ms:.1} ms after reading {} bytes of word-table shards ({model}, bundle {})",
        page.shard_bytes_read,
        dir.display()
    );
    Ok(())
}
