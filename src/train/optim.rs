//! AdamW (decoupled weight decay, Loshchilov & Hutter) with global-norm gradient clipping, over
//! any Burn module. Written here rather than taken from burn-optim because its moments must be
//! saved bit-exactly and restored into a rebuilt module, so a killed run resumes to the same
//! weights; the state is a plain list in the module's visiting order.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Gradients;
use burn::tensor::{Device, Tensor, TensorData};

use super::TrainError;

/// AdamW's first and second moments of one parameter, flattened.
pub type Moments = (Vec<f32>, Vec<f32>);

#[derive(Debug, Clone)]
pub struct AdamW {
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    pub weight_decay: f64,
    /// Updates applied so far.
    pub step: usize,
    moments: Vec<(Tensor<1>, Tensor<1>)>,
}

impl AdamW {
    pub fn new(weight_decay: f64) -> Self {
        AdamW { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weight_decay, step: 0, moments: Vec::new() }
    }

    /// One update of every parameter that has a gradient; returns the gradient norm before
    /// clipping.
    pub fn step<M: Module>(&mut self, module: M, grads: &Gradients, lr: f64, clip_norm: f64) -> (M, f64) {
        let mut collect = CollectGrads { grads, out: Vec::new() };
        module.visit(&mut collect);
        let grads = collect.out;
        let norm_sq: f64 = grads.iter().flatten().map(|g| g.clone().square().sum().into_scalar::<f32>() as f64).sum();
        let norm = norm_sq.sqrt();
        let scale = if clip_norm > 0.0 && norm > clip_norm { clip_norm / (norm + 1e-6) } else { 1.0 };
        self.step += 1;
        let mut update = Update { optim: self, grads, next: 0, lr, scale };
        (module.map(&mut update), norm)
    }

    /// Moments as f32 vectors per parameter, for the resume state.
    pub fn export(&self) -> Result<Vec<Moments>, TrainError> {
        self.moments.iter().map(|(m, v)| Ok((to_vec(m.clone())?, to_vec(v.clone())?))).collect()
    }

    pub fn import(&mut self, step: usize, moments: Vec<(Vec<f32>, Vec<f32>)>, device: &Device) {
        self.step = step;
        self.moments = moments
            .into_iter()
            .map(|(m, v)| {
                let n = m.len();
                (Tensor::from_data(TensorData::new(m, [n]), device), Tensor::from_data(TensorData::new(v, [n]), device))
            })
            .collect();
    }
}

pub(crate) fn to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, TrainError> {
    t.into_data().try_into_vec::<f32>().map_err(|e| TrainError::Tensor(format!("{e:?}")))
}

struct CollectGrads<'a> {
    grads: &'a Gradients,
    out: Vec<Option<Tensor<1>>>,
}

impl ModuleVisitor for CollectGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        let n = value.shape().num_elements();
        self.out.push(value.grad(self.grads).map(|g| g.reshape([n])));
    }
}

struct Update<'a> {
    optim: &'a mut AdamW,
    grads: Vec<Option<Tensor<1>>>,
    next: usize,
    lr: f64,
    scale: f64,
}

impl ModuleMapper for Update<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let i = self.next;
        self.next += 1;
        let Some(grad) = self.grads.get_mut(i).and_then(Option::take) else { return param };
        let (id, tensor, mapper) = param.consume();
        let dims = tensor.dims();
        let n = tensor.shape().num_elements();
        let o = &mut *self.optim;
        let grad = grad.mul_scalar(self.scale);
        if o.moments.len() <= i {
            let device = grad.device();
            o.moments.resize_with(i + 1, || (Tensor::zeros([n], &device), Tensor::zeros([n], &device)));
        }
        let (m, v) = o.moments[i].clone();
        let m = m.mul_scalar(o.beta1) + grad.clone().mul_scalar(1.0 - o.beta1);
        let v = v.mul_scalar(o.beta2) + grad.square().mul_scalar(1.0 - o.beta2);
        let t = o.step as i32;
        let m_hat = m.clone().div_scalar(1.0 - o.beta1.powi(t));
        let v_hat = v.clone().div_scalar(1.0 - o.beta2.powi(t));
        let p = tensor.inner().reshape([n]);
        // Decay matrices only: biases and LayerNorm parameters keep their scale (the usual
        // exclusion in BERT fine-tuning).
        let decay = if D >= 2 { o.weight_decay } else { 0.0 };
        let p = p.clone().mul_scalar(1.0 - self.lr * decay) - (m_hat / (v_hat.sqrt().add_scalar(o.epsilon))).mul_scalar(self.lr);
        o.moments[i] = (m, v);
        let updated = Tensor::<D>::from_inner(p.reshape(dims)).require_grad();
        Param::from_mapped_value(id, updated, mapper)
    }
}

/// Every float parameter as a flat f32 vector, in visiting order.
pub fn export_params<M: Module>(module: &M) -> Result<Vec<Vec<f32>>, TrainError> {
    struct Export(Vec<Tensor<1>>);
    impl ModuleVisitor for Export {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let v = param.val().inner();
            let n = v.shape().num_elements();
            self.0.push(v.reshape([n]));
        }
    }
    let mut e = Export(Vec::new());
    module.visit(&mut e);
    e.0.into_iter().map(to_vec).collect()
}

/// Replaces every float parameter with saved values (same order and sizes as
/// [`export_params`]), keeping them trainable.
pub fn import_params<M: Module>(module: M, values: Vec<Vec<f32>>) -> Result<M, TrainError> {
    struct Import {
        values: std::vec::IntoIter<Vec<f32>>,
        error: Option<String>,
    }
    impl ModuleMapper for Import {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (id, tensor, mapper) = param.consume();
            let dims = tensor.dims();
            let n: usize = dims.iter().product();
            let tensor = match self.values.next() {
                Some(v) if v.len() == n => {
                    let device = tensor.device();
                    let t = Tensor::<D>::from_data(TensorData::new(v, dims), &device);
                    if tensor.is_require_grad() { t.require_grad() } else { t }
                }
                other => {
                    self.error.get_or_insert(format!(
                        "saved parameter has {} values, the model expects {n}",
                        other.map(|v| v.len()).unwrap_or(0)
                    ));
                    tensor
                }
            };
            Param::from_mapped_value(id, tensor, mapper)
        }
    }
    let mut import = Import { values: values.into_iter(), error: None };
    let module = module.map(&mut import);
    match import.error {
        Some(e) => Err(TrainError::State(e)),
        None if import.values.next().is_some() => Err(TrainError::State("the saved state has more parameters than the model".into())),
        None => Ok(module),
    }
}
