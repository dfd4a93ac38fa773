//! The alpha x seed grid of a study: its cells, their names, and checks made before any work.

use super::StudyError;

/// One training run of the grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    pub alpha: f64,
    pub seed: u64,
}

impl Cell {
    /// Folder name of the cell's checkpoint and results (`alpha-0.5-seed-1`).
    pub fn name(&self) -> String {
        format!("alpha-{}-seed-{}", self.alpha, self.seed)
    }
}

/// Every (alpha, seed) pair, seed-major: all alphas of the first seed come first, so a sweep
/// cut short still holds one complete alpha curve.
pub fn cells(alphas: &[f64], seeds: &[u64]) -> Result<Vec<Cell>, StudyError> {
    if alphas.is_empty() || seeds.is_empty() {
        return Err(StudyError::Grid("--alphas and --seeds need at least one value each".into()));
    }
    for (i, &a) in alphas.iter().enumerate() {
        if !(0.0..=1.0).contains(&a) {
            return Err(StudyError::Grid(format!("alpha {a} (position {} of --alphas) is outside [0, 1]", i + 1)));
        }
        if alphas[..i].contains(&a) {
            return Err(StudyError::Grid(format!("alpha {a} is listed twice")));
        }
    }
    for (i, s) in seeds.iter().enumerate() {
        if seeds[..i].contains(s) {
            return Err(StudyError::Grid(format!("seed {s} is listed twice")));
        }
    }
    Ok(seeds.iter().flat_map(|&seed| alphas.iter().map(move |&alpha| Cell { alpha, seed })).collect())
}

/// Parses a cell folder name back (`alpha-0.25-seed-3`).
pub fn parse_name(name: &str) -> Option<Cell> {
    let rest = name.strip_prefix("alpha-")?;
    let (alpha, seed) = rest.split_once("-seed-")?;
    Some(Cell { alpha: alpha.parse().ok().filter(|a: &f64| (0.0..=1.0).contains(a))?, seed: seed.parse().ok()? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alpha_is_checked_not_only_the_first() {
        let err = cells(&[0.5, 2.0], &[1]).unwrap_err().to_string();
        assert!(err.contains("alpha 2") && err.contains("position 2"), "{err}");
        assert!(cells(&[0.5, f64::NAN], &[1]).is_err());
        assert!(cells(&[0.5, 0.5], &[1]).is_err());
        assert!(cells(&[0.5], &[1, 1]).is_err());
        assert!(cells(&[], &[1]).is_err());
    }

    #[test]
    fn seed_major_order_and_names_round_trip() {
        let c = cells(&[0.0, 0.25, 1.0], &[1, 2]).unwrap();
        assert_eq!(c.len(), 6);
        assert_eq!(c[2], Cell { alpha: 1.0, seed: 1 });
        assert_eq!(c[3], Cell { alpha: 0.0, seed: 2 });
        assert_eq!(c[1].name(), "alpha-0.25-seed-1");
        for cell in c {
            assert_eq!(parse_name(&cell.name()), Some(cell));
        }
        assert_eq!(parse_name("base"), None);
        assert_eq!(parse_name("alpha-3-seed-1"), None);
    }
}
