use std::path::Path;

use sha2::{Digest, Sha256};

use super::{read_file, SourceError};

/// One verified data file, recorded in reports so results name the exact bytes they came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FileChecksum {
    pub path: String,
    pub sha256: String,
}

/// Verifies the `SHA256SUMS` entries of `root` whose path starts with one of `prefixes`
/// (e.g. `xquad-r/`), returning them; a missing SHA256SUMS verifies nothing and says so by
/// returning an empty list.
pub fn verify_checksums(root: &Path, prefixes: &[&str]) -> Result<Vec<FileChecksum>, SourceError> {
    let sums = root.join("SHA256SUMS");
    if !sums.exists() {
        return Ok(Vec::new());
    }
    let text = String::from_utf8_lossy(&read_file(&sums)?).into_owned();
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Some((expected, path)) = line.split_once(char::is_whitespace) else { continue };
        let path = path.trim().trim_start_matches('*').trim_start_matches("./");
        if !prefixes.iter().any(|p| path.starts_with(p)) {
            continue;
        }
        if expected.len() != 64 {
            return Err(SourceError::malformed(&sums.display().to_string(), format!("line {}", n + 1), "expected '<sha256>  <path>'"));
        }
        let file = root.join(path);
        let found = hex::encode(Sha256::digest(read_file(&file)?));
        if found != expected {
            return Err(SourceError::Checksum { file: file.display().to_string(), expected: expected.into(), found });
        }
        out.push(FileChecksum { path: path.to_string(), sha256: found });
    }
    Ok(out)
}
