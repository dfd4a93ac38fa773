//! InfoNCE over in-batch negatives: row i of the queries should score its own positive (column
//! i) above every other positive of the batch.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};

/// Mean cross-entropy of `softmax(q . p^T / temperature)` against the diagonal. Rows are
/// L2-normalised embeddings, so the scores are cosines.
pub fn info_nce(queries: Tensor<2>, positives: Tensor<2>, temperature: f64) -> Tensor<1> {
    let [b, _] = queries.dims();
    let device = queries.device();
    let logits = queries.matmul(positives.transpose()).div_scalar(temperature);
    let diagonal = Tensor::<1, Int>::arange(0..b as i64, &device).reshape([b, 1]);
    log_softmax(logits, 1).gather(1, diagonal).mean().neg()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn t(v: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
        Tensor::from_data(TensorData::new(v, [rows, cols]), device)
    }

    #[test]
    fn matches_a_hand_computed_value() {
        let d = Device::flex();
        let q = t(vec![1.0, 0.0, 0.0, 1.0], 2, 2, &d);
        let p = t(vec![0.6, 0.8, 1.0, 0.0], 2, 2, &d);
        // Scores / 0.5: row 0 = [1.2, 2.0], row 1 = [1.6, 0.0]; targets are the diagonal.
        let expect = (-(1.2f64 - (1.2f64.exp() + 2.0f64.exp()).ln()) - (0.0 - (1.6f64.exp() + 1.0).ln())) / 2.0;
        let got = info_nce(q, p, 0.5).into_scalar::<f32>();
        assert!((got as f64 - expect).abs() < 1e-5, "{got} vs {expect}");
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let d = Device::flex().autodiff();
        let qv: Vec<f32> = vec![0.3, -0.2, 0.5, 0.1, 0.4, -0.6, -0.3, 0.2, 0.7];
        let pv: Vec<f32> = vec![0.2, 0.1, -0.4, 0.5, -0.1, 0.3, 0.6, 0.2, -0.2];
        let q = t(qv.clone(), 3, 3, &d).require_grad();
        let loss = info_nce(q.clone(), t(pv.clone(), 3, 3, &d), 0.1);
        let grads = loss.backward();
        let g = q.grad(&grads).expect("gradient").into_data().try_into_vec::<f32>().expect("f32");
        let plain = Device::flex();
        let f = |v: Vec<f32>| info_nce(t(v, 3, 3, &plain), t(pv.clone(), 3, 3, &plain), 0.1).into_scalar::<f32>() as f64;
        for i in 0..qv.len() {
            let eps = 1e-2f32;
            let (mut up, mut down) = (qv.clone(), qv.clone());
            up[i] += eps;
            down[i] -= eps;
            let numeric = (f(up) - f(down)) / (2.0 * eps as f64);
            assert!((numeric - g[i] as f64).abs() < 2e-3, "element {i}: autodiff {} vs numeric {numeric}", g[i]);
        }
    }
}
