//! Multi-head self-attention. Burn's CPU kernel copies Q, K and V into head-major order and
//! takes every softmax exponential with scalar libm `expf` (5% of the page worker's time on
//! passages, `scripts/profile-worker`). On the CPU without autodiff, [`multi_head`] instead
//! reads the projections where they lie (`[batch, len, hidden]`, heads side by side), writes the
//! context in the same layout (no swap back), and takes the exponentials with [`exp`], a
//! branch-free polynomial the compiler vectorises. On the GPU and under autodiff (training) it is
//! Burn's own attention op.

use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Tensor, TensorData};

/// Below this, e^x is under f32's smallest normal number: [`exp`] returns 0 (the padding bias
/// of -1e4 lands here, as it does with libm).
const EXP_MIN: f32 = -87.33;
const EXP_MAX: f32 = 88.72;

/// e^x in f32 within 2 ulp, branch-free so that loops over it vectorise (simd128 in the page,
/// SSE/AVX natively): x = n·ln2 + r with |r| <= ln2/2, e^r by its Taylor series to r⁷
/// (truncation < 6e-9 relative), 2ⁿ built in the exponent bits.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4; // ln 2 split so n·LN2_HI is exact for |n| < 2^9
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5·2²³ rounds to the nearest integer without a libm call.
    const ROUND: f32 = 12_582_912.0;
    let xc = x.clamp(EXP_MIN, EXP_MAX);
    let t = xc * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // n (in [-126, 128]) is also the low bits of t's mantissa: integer arithmetic on the bits,
    // no float-to-int conversion (which does not vectorise on SSE2). 2^n is two factors so the
    // exponent field never overflows at n = 128. Wrapping operations because the crate's
    // overflow checks would branch and stop the loop vectorising; none can overflow here.
    let n = t.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let half = n >> 1;
    let two_n_a = f32::from_bits((half.wrapping_add(127) << 23) as u32);
    let two_n_b = f32::from_bits((n.wrapping_sub(half).wrapping_add(127) << 23) as u32);
    let e = p * two_n_a * two_n_b;
    if x < EXP_MIN { 0.0 } else { e }
}

/// The attention's shape: `batch` texts of `len` tokens, `heads` heads of `head_dim` values
/// side by side in each row of `heads·head_dim`.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub batch: usize,
    pub len: usize,
    pub heads: usize,
    pub head_dim: usize,
}

/// softmax(q·kᵀ/√d + bias)·v for every text and head, on row-major `[batch, len, heads·head_dim]`
/// buffers; `key_bias` is `[batch, len]`, added to every query's score for that key. Writes
/// `out` in the layout of `q`.
pub fn attention_rows(q: &[f32], k: &[f32], v: &[f32], key_bias: &[f32], shape: Shape, out: &mut [f32]) {
    let Shape { batch, len, heads, head_dim } = shape;
    let hidden = heads * head_dim;
    let text = len * hidden;
    assert!(
        q.len() == batch * text && k.len() == q.len() && v.len() == q.len() && out.len() == q.len() && key_bias.len() == batch * len,
        "attention_rows: buffers do not match {shape:?}"
    );
    let run_text = |b: usize, out: &mut [f32]| {
        let range = b * text..(b + 1) * text;
        attend_text(&q[range.clone()], &k[range.clone()], &v[range], &key_bias[b * len..(b + 1) * len], shape, out);
    };
    // Natively the texts of a batch run on the thread pool (as Burn's kernel does with its heads).
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        if batch > 1 {
            out.par_chunks_exact_mut(text).enumerate().for_each(|(b, out)| run_text(b, out));
            return;
        }
    }
    for (b, out) in out.chunks_exact_mut(text).enumerate() {
        run_text(b, out);
    }
}

/// Lanes the inner loops are written in: whole groups of 8 without remainders, which the
/// compiler turns into SIMD (two f32x4 in wasm, AVX or two SSE natively).
const LANES: usize = 8;

/// Queries taken together: each K or V value loaded is used for this many queries.
const QUERIES: usize = 4;

/// All heads of one text. Per head, K is transposed to `[head_dim, keys]` with the keys padded
/// to a multiple of [`LANES`]; scores and context are then computed for [`QUERIES`] queries and
/// [`LANES`] outputs at a time with the sums held in registers (no reductions, no remainders:
/// loops that vectorise, and each output stored once). Padded keys get a score under
/// [`EXP_MIN`], so weight exactly 0; padded queries are zeros whose outputs are dropped.
/// Needs `head_dim` to be a multiple of [`LANES`] ([`multi_head`] checks).
fn attend_text(q: &[f32], k: &[f32], v: &[f32], key_bias: &[f32], shape: Shape, out: &mut [f32]) {
    let Shape { len, heads, head_dim, .. } = shape;
    let hidden = heads * head_dim;
    let keys = len.div_ceil(LANES) * LANES;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let mut kt = vec![0.0f32; head_dim * keys];
    let mut bias = vec![f32::MIN; keys];
    bias[..len].copy_from_slice(key_bias);
    // Per group: the scaled queries `[head_dim][QUERIES]` and their scores `[QUERIES][keys]`.
    let mut queries = vec![0.0f32; head_dim * QUERIES];
    let mut scores = vec![0.0f32; QUERIES * keys];
    for h in 0..heads {
        let cols = h * head_dim..(h + 1) * head_dim;
        for (j, key) in k.chunks_exact(hidden).enumerate() {
            for (c, &x) in key[cols.clone()].iter().enumerate() {
                kt[c * keys + j] = x;
            }
        }
        for first in (0..len).step_by(QUERIES) {
            let group = QUERIES.min(len - first);
            queries.fill(0.0);
            for i in 0..group {
                let row = &q[(first + i) * hidden..][cols.clone()];
                for (c, &x) in row.iter().enumerate() {
                    queries[c * QUERIES + i] = x * scale;
                }
            }
            for block in 0..keys / LANES {
                let mut acc = [[0.0f32; LANES]; QUERIES];
                for row in acc.iter_mut() {
                    row.copy_from_slice(&bias[block * LANES..(block + 1) * LANES]);
                }
                for (qc, kc) in queries.chunks_exact(QUERIES).zip(kt.chunks_exact(keys)) {
                    let kc = &kc[block * LANES..(block + 1) * LANES];
                    for (row, &qv) in acc.iter_mut().zip(qc) {
                        for l in 0..LANES {
                            row[l] += qv * kc[l];
                        }
                    }
                }
                for (i, row) in acc.iter().enumerate() {
                    scores[i * keys + block * LANES..][..LANES].copy_from_slice(row);
                }
            }
            let mut inv_sums = [0.0f32; QUERIES];
            for (row, inv_sum) in scores.chunks_exact_mut(keys).zip(inv_sums.iter_mut()) {
                let max = row[..len].iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
                for s in row.iter_mut() {
                    *s = exp(*s - max);
                }
                *inv_sum = 1.0 / row[..len].iter().sum::<f32>();
            }
            for block in 0..head_dim / LANES {
                let at = h * head_dim + block * LANES;
                let mut acc = [[0.0f32; LANES]; QUERIES];
                for (j, value) in v.chunks_exact(hidden).enumerate() {
                    let vc = &value[at..at + LANES];
                    for (i, row) in acc.iter_mut().enumerate() {
                        let p = scores[i * keys + j];
                        for l in 0..LANES {
                            row[l] += p * vc[l];
                        }
                    }
                }
                for i in 0..group {
                    let o = &mut out[(first + i) * hidden + at..][..LANES];
                    for l in 0..LANES {
                        o[l] = acc[i][l] * inv_sums[i];
                    }
                }
            }
        }
    }
}

/// Multi-head self-attention on projections `[batch, len, hidden]` with an additive key bias
/// `[batch, 1, 1, len]` (see [`super::attention_bias`]); returns the context `[batch, len, hidden]`.
pub fn multi_head(q: Tensor<3>, k: Tensor<3>, v: Tensor<3>, attn_bias: Tensor<4>, heads: usize) -> Tensor<3> {
    let [batch, len, hidden] = q.dims();
    let head_dim = hidden / heads;
    if super::runs_cpu_kernels(&q) && head_dim.is_multiple_of(LANES) {
        let device = q.device();
        let mut out = vec![0.0f32; batch * len * hidden];
        let shape = Shape { batch, len, heads, head_dim };
        attention_rows(&f32_values(q), &f32_values(k), &f32_values(v), &f32_values(attn_bias), shape, &mut out);
        return Tensor::from_data(TensorData::new(out, [batch, len, hidden]), &device);
    }
    let split = |t: Tensor<3>| t.reshape([batch, len, heads, head_dim]).swap_dims(1, 2);
    let bias = attn_bias.expand([batch, heads, len, len]);
    attention(split(q), split(k), split(v), None, Some(bias), AttentionModuleOptions::default())
        .swap_dims(1, 2)
        .reshape([batch, len, hidden])
}

/// A tensor's values as f32 (converted if stored otherwise), moved out of the tensor.
fn f32_values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_2_ulp_of_the_truth() {
        let mut worst = (0.0f64, 0.0f32);
        for i in 0..=2_000_000 {
            let x = EXP_MIN + (EXP_MAX - EXP_MIN) * i as f32 / 2_000_000.0;
            let truth = (x as f64).exp();
            let ulp = f32::EPSILON as f64 * truth;
            let err = (exp(x) as f64 - truth).abs() / ulp;
            if err > worst.0 {
                worst = (err, x);
            }
        }
        assert!(worst.0 <= 2.0, "max error {} ulp at {}", worst.0, worst.1);
        assert_eq!((exp(0.0), exp(-1e4), exp(f32::NEG_INFINITY)), (1.0, 0.0, 0.0));
    }

    #[test]
    #[cfg(feature = "flex")]
    fn the_cpu_path_matches_burn_s_attention() {
        use burn::tensor::{Bool, Device};
        let (batch, len, heads, head_dim) = (3, 11, 3, 16);
        let hidden = heads * head_dim;
        let device = Device::flex();
        // Deterministic values in [-2, 2) with a different stream per tensor.
        let values = |seed: u64| -> Vec<f32> {
            let mut s = seed;
            (0..batch * len * hidden)
                .map(|_| {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
                })
                .collect()
        };
        let t = |seed| Tensor::<3>::from_data(TensorData::new(values(seed), [batch, len, hidden]), &device);
        // Text 1 has five padded keys, text 2 one; 11 keys make two blocks of 8, one padded.
        let pad: Vec<bool> = (0..batch * len).map(|i| matches!((i / len, i % len), (1, 6..) | (2, 10))).collect();
        let bias = super::super::attention_bias(Tensor::<2, Bool>::from_data(TensorData::new(pad, [batch, len]), &device));
        assert!(crate::model::runs_cpu_kernels(&t(1)), "the test must exercise our kernel");
        let ours = multi_head(t(1), t(2), t(3), bias.clone(), heads).into_data().try_to_vec::<f32>().unwrap();
        let split = |x: Tensor<3>| x.reshape([batch, len, heads, head_dim]).swap_dims(1, 2);
        let burns = attention(split(t(1)), split(t(2)), split(t(3)), None, Some(bias.expand([batch, heads, len, len])), AttentionModuleOptions::default())
            .swap_dims(1, 2)
            .reshape([batch, len, hidden])
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for (i, (a, b)) in ours.iter().zip(&burns).enumerate() {
            assert!((a - b).abs() <= 2e-6 * (1.0 + b.abs()), "value {i}: ours {a}, Burn's {b}");
        }
    }
}
