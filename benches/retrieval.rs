//! Exhaustive top-k retrieval throughput: our blocked scorer (`rankings::rank_all`, Flex backend)
//! on the vectors in two .npy files, printing one JSON line. `scripts/bench-retrieval` runs it
//! next to numpy (and faiss-cpu when it installs) on the same vectors and prints the ratio.
//!   cargo bench --bench retrieval -- QUERIES.npy POOL.npy K

use std::time::Instant;

use burn::tensor::Device;
use hybrid_ir::rankings::rank_all;

/// Reads a C-order float32 .npy matrix.
fn read_npy(path: &str) -> (Vec<f32>, usize, usize) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{path}: not a .npy file");
    let (hlen, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
    };
    let header = std::str::from_utf8(&bytes[start..start + hlen]).expect("header");
    assert!(header.contains("'<f4'") && header.contains("False"), "{path}: need C-order float32, got {header}");
    let shape = header.split("'shape': (").nth(1).and_then(|s| s.split(')').next()).expect("shape");
    let dims: Vec<usize> = shape.split(',').filter_map(|d| d.trim().parse().ok()).collect();
    let data = bytes[start + hlen..].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    (data, dims[0], dims[1])
}

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| !a.starts_with("--")).collect();
    if args.len() < 4 {
        eprintln!("usage: cargo bench --bench retrieval -- QUERIES.npy POOL.npy K");
        return;
    }
    let (q, n, dim) = read_npy(&args[1]);
    let (p, m, dim2) = read_npy(&args[2]);
    assert_eq!(dim, dim2, "dimension mismatch");
    let k: usize = args[3].parse().expect("K");
    let device = Device::flex();
    let relevant = vec![Vec::new(); n];
    let langs = vec![0u16; m];
    // Warm-up on a slice, then best of 3.
    rank_all(&q[..dim * n.min(64)], &p, dim, &relevant[..n.min(64)], &[], &langs, 1, k, 0, &device, |_| {}).expect("ranks");
    let mut best = f64::MAX;
    let mut checksum = 0u64;
    for _ in 0..3 {
        let t0 = Instant::now();
        let r = rank_all(&q, &p, dim, &relevant, &[], &langs, 1, k, 0, &device, |_| {}).expect("ranks");
        best = best.min(t0.elapsed().as_secs_f64());
        checksum = r.iter().map(|x| x.top_multi[0].0 as u64).sum();
    }
    println!(
        "{{\"engine\":\"hybrid-ir\",\"queries\":{n},\"pool\":{m},\"dim\":{dim},\"k\":{k},\"seconds\":{best:.4},\"queries_per_s\":{:.1},\"top1_checksum\":{checksum}}}",
        n as f64 / best
    );
}
