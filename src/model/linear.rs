//! Linear layers (`x·W + b`) in the browser's CPU path with our own matrix kernel.
//!
//! In wasm, Burn Flex multiplies matrices with gemm's simd128 kernel: about 65% of the worker's
//! time (`scripts/profile-worker`). It packs both operands on every call, which costs most on
//! the page's short queries, and it multiplies then adds (`f32x4.mul`, `f32x4.add`): wasm's
//! SIMD has a fused multiply-add only in the relaxed-SIMD extension (`f32x4.relaxed_madd`,
//! one instruction where FMA hardware has it). [`forward`] reads Burn's stored weights in
//! place (`[in, out]`, row-major) and computes 4 rows x 8 columns at a time with the sums in
//! registers; built with the `relaxed-simd` feature (the page's second worker, for browsers that
//! validate relaxed SIMD) each step is one `relaxed_madd`. Natively gemm's AVX-512 kernels are
//! faster than 4 lanes, so there Burn's op runs; the kernel itself is tested natively on a
//! portable 4-lane type with the same blocking.

use burn::nn::Linear;
use burn::tensor::Tensor;

/// Rows of `x` per register block.
const MR: usize = 4;
/// 4-lane vectors of output columns per register block (8 columns: 8 sums, 2 weights and a
/// broadcast value fit the 16 registers V8 has for SIMD on x86, with room to spare).
const NV: usize = 2;
/// Output columns per register block.
pub const NR: usize = 4 * NV;
/// Inner-dimension slice per pass: 256 weight rows of a block column (8 KB) stay in L1.
const KC: usize = 256;
/// Rows per pass over a block column: their 256-wide slices (64 KB) stay in L2.
const MC: usize = 64;

/// `x·W + b` for a linear layer on `[batch, len, in]`: our kernel in the browser's CPU path,
/// Burn's op elsewhere (GPU, autodiff, natively).
pub fn forward(lin: &Linear, x: Tensor<3>) -> Tensor<3> {
    #[cfg(all(target_arch = "wasm32", feature = "flex"))]
    if super::runs_cpu_kernels(&x) {
        if let Some(y) = on_cpu(lin, &x) {
            return y;
        }
    }
    lin.forward(x)
}

/// Our kernel on Flex tensors, reading weights, bias and input in place; `None` where one is not
/// contiguous f32 on Flex or the output width is not a multiple of [`NR`] (Burn's op runs then).
#[cfg(feature = "flex")]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // natively only the tests call it
pub(crate) fn on_cpu(lin: &Linear, x: &Tensor<3>) -> Option<Tensor<3>> {
    use burn::backend::flex::FlexTensor;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    let flex = |t: Tensor<2>| t.try_into_primitive::<Flex>().ok();
    let [batch, len, d_in] = x.dims();
    let [w_in, d_out] = lin.weight.val().dims();
    if w_in != d_in || d_out % NR != 0 {
        return None;
    }
    let weight: FlexTensor = flex(lin.weight.val())?;
    let bias: Option<FlexTensor> = match &lin.bias {
        Some(b) => Some(flex(b.val().unsqueeze_dim(0))?),
        None => None,
    };
    let input: FlexTensor = flex(x.clone().reshape([batch * len, d_in]))?;
    let bias_values = match &bias {
        Some(b) => Some(b.as_slice::<f32>()?),
        None => None,
    };
    // Zeroed by the allocator (`alloc_zeroed`); the kernel's first pass overwrites every value.
    let mut out = vec![0.0f32; batch * len * d_out];
    affine(input.as_slice::<f32>()?, weight.as_slice::<f32>()?, bias_values, d_out, &mut out);
    Some(Tensor::from_data(TensorData::new(out, [batch, len, d_out]), &x.device()))
}

/// `out = x·w (+ bias)` on row-major buffers: `x` is `[m, k]`, `w` `[k, n]`, `bias` `[n]`,
/// `out` `[m, n]`, with `n` a multiple of [`NR`]; no bias starts the sums from zero.
///
/// # Panics
/// If the lengths do not fit these shapes (our own tensors' shapes decide them, not input).
pub fn affine(x: &[f32], w: &[f32], bias: Option<&[f32]>, n: usize, out: &mut [f32]) {
    assert!(n > 0 && n.is_multiple_of(NR) && w.len().is_multiple_of(n), "weights {} not [k, {n}] with {n} a multiple of {NR}", w.len());
    assert!(bias.is_none_or(|b| b.len() == n), "bias not [{n}]");
    let k = w.len() / n;
    assert!(k > 0 && x.len().is_multiple_of(k) && out.len() == x.len() / k * n, "x {} / out {} do not fit k {k}, n {n}", x.len(), out.len());
    let m = x.len() / k;
    for k0 in (0..k).step_by(KC) {
        let k1 = (k0 + KC).min(k);
        for m0 in (0..m).step_by(MC) {
            let m1 = (m0 + MC).min(m);
            for c0 in (0..n).step_by(NR) {
                for r0 in (m0..m1).step_by(MR) {
                    let block = Block { rows: (m1 - r0).min(MR), k0, k1, c0, first: k0 == 0 };
                    // SAFETY: r0 < m, c0 + NR <= n and k1 <= k, checked against the buffers'
                    // lengths by the asserts above.
                    unsafe { block.run(&x[r0 * k..], k, w, bias, &mut out[r0 * n..], n) };
                }
            }
        }
    }
}

/// One register block: `rows` (<= [`MR`]) rows x [`NR`] columns from column `c0`, inner indices
/// `k0..k1`; the first pass (`k0 == 0`) starts from the bias (or zero), later ones from `out`.
struct Block {
    rows: usize,
    k0: usize,
    k1: usize,
    c0: usize,
    first: bool,
}

impl Block {
    /// # Safety
    /// `x` holds `rows` rows of stride `k`, `out` `rows` rows of stride `n`; `w` is `[k, n]`
    /// and `bias` (if any) `[n]`, with `k1 <= k` and `c0 + NR <= n`.
    #[cfg_attr(all(target_arch = "wasm32", feature = "relaxed-simd"), target_feature(enable = "relaxed-simd"))]
    #[inline]
    unsafe fn run(&self, x: &[f32], k: usize, w: &[f32], bias: Option<&[f32]>, out: &mut [f32], n: usize) {
        let Block { rows, k0, k1, c0, first } = *self;
        let mut acc = [[lanes::splat(0.0); NV]; MR];
        for (r, acc_row) in acc.iter_mut().enumerate() {
            for (v, a) in acc_row.iter_mut().enumerate() {
                let col = c0 + 4 * v;
                *a = if first {
                    bias.map_or(lanes::splat(0.0), |b| lanes::load(b.as_ptr().add(col)))
                } else if r < rows {
                    lanes::load(out.as_ptr().add(r * n + col))
                } else {
                    lanes::splat(0.0)
                };
            }
        }
        // Rows past the end repeat the last one; their sums are never stored.
        let x_rows: [*const f32; MR] = std::array::from_fn(|r| x.as_ptr().add(r.min(rows - 1) * k));
        let mut w_row = w.as_ptr().add(k0 * n + c0);
        for kk in k0..k1 {
            let b: [lanes::F32x4; NV] = std::array::from_fn(|v| lanes::load(w_row.add(4 * v)));
            for (r, acc_row) in acc.iter_mut().enumerate() {
                let a = lanes::splat(*x_rows[r].add(kk));
                for (v, s) in acc_row.iter_mut().enumerate() {
                    *s = lanes::madd(a, b[v], *s);
                }
            }
            w_row = w_row.add(n);
        }
        for (r, acc_row) in acc.iter().enumerate().take(rows) {
            for (v, s) in acc_row.iter().enumerate() {
                lanes::store(out.as_mut_ptr().add(r * n + c0 + 4 * v), *s);
            }
        }
    }
}

/// Four f32 lanes: wasm's `v128` in the browser, a plain array natively (tests).
#[cfg(target_arch = "wasm32")]
mod lanes {
    use core::arch::wasm32::*;

    pub type F32x4 = v128;

    #[inline(always)]
    pub fn splat(x: f32) -> F32x4 {
        f32x4_splat(x)
    }

    /// # Safety
    /// `p` points at 4 readable f32s.
    #[inline(always)]
    pub unsafe fn load(p: *const f32) -> F32x4 {
        v128_load(p as *const v128)
    }

    /// # Safety
    /// `p` points at 4 writable f32s.
    #[inline(always)]
    pub unsafe fn store(p: *mut f32, v: F32x4) {
        v128_store(p as *mut v128, v)
    }

    /// `a·b + c`, one fused instruction where the hardware has FMA.
    #[cfg(feature = "relaxed-simd")]
    #[target_feature(enable = "relaxed-simd")]
    #[inline]
    pub fn madd(a: F32x4, b: F32x4, c: F32x4) -> F32x4 {
        f32x4_relaxed_madd(a, b, c)
    }

    /// `a·b + c`, multiplied then added (baseline SIMD has no fused form).
    #[cfg(not(feature = "relaxed-simd"))]
    #[inline(always)]
    pub fn madd(a: F32x4, b: F32x4, c: F32x4) -> F32x4 {
        f32x4_add(c, f32x4_mul(a, b))
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod lanes {
    pub type F32x4 = [f32; 4];

    #[inline(always)]
    pub fn splat(x: f32) -> F32x4 {
        [x; 4]
    }

    /// # Safety
    /// `p` points at 4 readable f32s.
    #[inline(always)]
    pub unsafe fn load(p: *const f32) -> F32x4 {
        std::ptr::read_unaligned(p as *const F32x4)
    }

    /// # Safety
    /// `p` points at 4 writable f32s.
    #[inline(always)]
    pub unsafe fn store(p: *mut f32, v: F32x4) {
        std::ptr::write_unaligned(p as *mut F32x4, v)
    }

    #[inline(always)]
    pub fn madd(a: F32x4, b: F32x4, c: F32x4) -> F32x4 {
        std::array::from_fn(|i| a[i] * b[i] + c[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::{Device, TensorData};

    fn values(seed: u32, n: usize) -> Vec<f32> {
        (0..n).map(|i| (((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) % 2001) as f32 / 1000.0 - 1.0).collect()
    }

    /// Every block shape the encoder meets: rows not a multiple of 4 (one to three left over),
    /// more rows than one pass (`MC`), an inner dimension over one slice (`KC`) and not a
    /// multiple of it, several block columns.
    #[test]
    fn affine_matches_a_plain_triple_loop() {
        for (m, k, n, with_bias) in [(1, 3, 8, true), (5, 384, 16, true), (67, 300, 24, true), (130, 520, 40, true), (3, 1, 8, true), (6, 260, 16, false)] {
            let (x, w, b) = (values(1, m * k), values(2, k * n), values(3, n));
            let bias = with_bias.then_some(&b[..]);
            let mut out = vec![f32::NAN; m * n];
            affine(&x, &w, bias, n, &mut out);
            for r in 0..m {
                for c in 0..n {
                    let start = bias.map_or(0.0, |b| b[c] as f64);
                    let want: f64 = start + (0..k).map(|i| x[r * k + i] as f64 * w[i * n + c] as f64).sum::<f64>();
                    let got = out[r * n + c] as f64;
                    assert!((got - want).abs() <= 1e-4 * (1.0 + want.abs()), "m {m} k {k} n {n}: [{r}, {c}] = {got}, want {want}");
                }
            }
        }
    }

    #[test]
    fn on_cpu_reads_burn_s_linear_layer_in_place_and_matches_it() {
        let device = Device::flex();
        let (batch, len, d_in, d_out) = (3, 7, 48, 40);
        let lin = LinearConfig::new(d_in, d_out).init(&device);
        let x = Tensor::<3>::from_data(TensorData::new(values(9, batch * len * d_in), [batch, len, d_in]), &device);
        assert!(crate::model::runs_cpu_kernels(&x), "the test must run where the kernel is used");
        let ours = on_cpu(&lin, &x).expect("contiguous f32 on Flex: our kernel runs");
        let burn = lin.forward(x.clone());
        let (a, b) = (ours.into_data().try_to_vec::<f32>().unwrap(), burn.into_data().try_to_vec::<f32>().unwrap());
        let max = a.iter().zip(&b).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
        assert!(max < 1e-5, "max abs diff {max}");
        // A width that is not a multiple of the block falls back to Burn's op.
        let odd = LinearConfig::new(d_in, 12).init(&device);
        assert!(on_cpu(&odd, &x).is_none());
    }
}
