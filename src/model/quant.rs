//! Q4_0: blocks of 32 weights, each an f16 scale then 16 bytes; byte j holds weight j in its low
//! nibble and weight j+16 in its high nibble; weight = (nibble - 8) * scale.

/// Weights per block.
pub const Q4_BLOCK: usize = 32;
/// Bytes per block: 2 (f16 scale) + 16 (32 nibbles).
pub const Q4_BLOCK_BYTES: usize = 18;

/// Packed size of `count` weights (count must be a multiple of 32).
pub fn q4_0_bytes(count: usize) -> usize {
    count / Q4_BLOCK * Q4_BLOCK_BYTES
}

/// Dequantises whole blocks from `packed` into `out` (`out.len()` = 32 x blocks).
pub fn dequantize_q4_0(packed: &[u8], out: &mut [f32]) {
    debug_assert_eq!(packed.len() / Q4_BLOCK_BYTES * Q4_BLOCK, out.len());
    for (block, dst) in packed.chunks_exact(Q4_BLOCK_BYTES).zip(out.chunks_exact_mut(Q4_BLOCK)) {
        let scale = half::f16::from_le_bytes([block[0], block[1]]).to_f32();
        let (lo, hi) = dst.split_at_mut(Q4_BLOCK / 2);
        for (j, &byte) in block[2..].iter().enumerate() {
            lo[j] = ((byte & 0x0f) as i32 - 8) as f32 * scale;
            hi[j] = ((byte >> 4) as i32 - 8) as f32 * scale;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nibble_order_and_scale() {
        // scale 0.5; byte j = low nibble j, high nibble 15-j.
        let mut block = vec![0u8; Q4_BLOCK_BYTES];
        block[..2].copy_from_slice(&half::f16::from_f32(0.5).to_le_bytes());
        for j in 0..16u8 {
            block[2 + j as usize] = j | ((15 - j) << 4);
        }
        let mut out = vec![0f32; 32];
        dequantize_q4_0(&block, &mut out);
        for j in 0..16 {
            assert_eq!(out[j], (j as f32 - 8.0) * 0.5, "low nibble {j}");
            assert_eq!(out[j + 16], ((15 - j) as f32 - 8.0) * 0.5, "high nibble {j}");
        }
    }
}
