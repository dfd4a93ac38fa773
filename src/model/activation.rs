//! BERT's exact (erf) GELU. Burn's CPU backend evaluates erf per element with scalar libm, which
//! took ~40% of a CPU forward pass (measured: 187 texts/s with it, 325 with a free activation in
//! its place). On the CPU without autodiff (inference: the CLI's encoder and the page's CPU
//! path) [`gelu`] instead runs over the tensor's buffer with a rational erf evaluated in f64,
//! which the compiler vectorises, within 3.2e-8 of the true erf after rounding to f32 (test
//! below). On the GPU and under autodiff (training) it is Burn's own `gelu`.

use std::f64::consts::FRAC_1_SQRT_2;

use burn::tensor::Tensor;

/// erf(x) ~ x·P(x²)/Q(x²) on [-4, 4], coefficients from a weighted least-squares (Lawson)
/// fit to erf in f64; beyond 4, erf rounds to ±1 in f32.
const P: [f64; 7] = [
    1.1283791820655777,
    0.18471302470140677,
    0.05433272375650992,
    0.003839611414499751,
    0.00038268464788950626,
    4.7802623871634475e-06,
    -1.3665508391547121e-08,
];
const Q: [f64; 6] = [1.0, 0.49703120094806336, 0.11382721341847607, 0.015453650243070233, 0.001309586043565478, 6.400669997760379e-05];

/// erf in f64 from the fit above (NaN stays NaN; ±inf gives ±1).
#[inline(always)]
pub fn erf(x: f64) -> f64 {
    let x = x.clamp(-4.0, 4.0);
    let t = x * x;
    let p = (((((P[6] * t + P[5]) * t + P[4]) * t + P[3]) * t + P[2]) * t + P[1]) * t + P[0];
    let q = ((((Q[5] * t + Q[4]) * t + Q[3]) * t + Q[2]) * t + Q[1]) * t + Q[0];
    x * p / q
}

/// GELU of every value, in place: 0.5·x·(1 + erf(x/√2)), computed in f64 and rounded once.
pub fn gelu_in_place(values: &mut [f32]) {
    for v in values {
        let x = *v as f64;
        *v = (0.5 * x * (1.0 + erf(x * FRAC_1_SQRT_2))) as f32;
    }
}

/// Exact GELU: the vectorised path on the CPU (Flex, no autodiff, f32), Burn's elsewhere.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if super::runs_cpu_kernels(&x) {
        let device = x.device();
        let mut data = x.into_data();
        if let Ok(values) = data.as_mut_slice::<f32>() {
            gelu_in_place(values);
        }
        return Tensor::from_data(data, &device);
    }
    burn::tensor::activation::gelu(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf in f64 from its everywhere-positive series, 2/√π·e^(-x²)·Σ 2ⁿx^(2n+1)/(1·3···(2n+1)):
    /// no cancellation, so exact to ~1e-15 on the range tested.
    fn erf_series(x: f64) -> f64 {
        let (mut term, mut sum, mut n) = (x, x, 0.0);
        while term.abs() > 1e-18 * sum.abs() {
            n += 1.0;
            term *= 2.0 * x * x / (2.0 * n + 1.0);
            sum += term;
        }
        2.0 / std::f64::consts::PI.sqrt() * (-x * x).exp() * sum
    }

    #[test]
    fn erf_is_within_3_2e_8_of_the_truth_after_rounding() {
        let mut worst = (0.0f64, 0.0f64);
        for i in 0..=1_200_000 {
            let x = -6.0 + 12.0 * i as f64 / 1_200_000.0;
            let x = x as f32 as f64;
            let truth = if x.abs() > 5.9 { x.signum() } else { erf_series(x) };
            let err = ((erf(x) as f32) as f64 - truth).abs();
            if err > worst.0 {
                worst = (err, x);
            }
        }
        assert!(worst.0 < 3.2e-8, "max error {:e} at {}", worst.0, worst.1);
        assert_eq!((erf(f64::INFINITY), erf(f64::NEG_INFINITY)), (erf(4.0), -erf(4.0)));
        assert!(erf(f64::NAN).is_nan());
    }

    #[test]
    #[cfg(feature = "flex")]
    fn the_cpu_path_matches_burn_s_gelu() {
        use burn::tensor::{Device, TensorData};
        let values: Vec<f32> = (0..4096).map(|i| (i as f32 - 2048.0) / 200.0).collect();
        let device = Device::flex();
        let t = || Tensor::<2>::from_data(TensorData::new(values.clone(), [64, 64]), &device);
        let ours = gelu(t()).into_data().try_to_vec::<f32>().unwrap();
        let burns = burn::tensor::activation::gelu(t()).into_data().try_to_vec::<f32>().unwrap();
        for (i, (a, b)) in ours.iter().zip(&burns).enumerate() {
            assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "x = {}: ours {a}, Burn's {b}", values[i]);
        }
        // Under autodiff the graph op runs: training needs the gradient through it.
        #[cfg(feature = "autodiff")]
        {
            let x = Tensor::<2>::from_data(TensorData::new(values.clone(), [64, 64]), &device.clone().autodiff()).require_grad();
            let grads = gelu(x.clone()).sum().backward();
            let g = x.grad(&grads).expect("a gradient through gelu").into_data().try_to_vec::<f32>().unwrap();
            assert!((g[2048] - 0.5).abs() < 1e-6, "gelu'(0) = 0.5, got {}", g[2048]);
        }
    }
}
