//! The BERT encoder as Burn modules: post-LayerNorm blocks, exact (erf) GELU, no pooler.

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Bool, Device, Tensor, TensorData};

use super::{BertConfig, ModelError, Weights};

/// Position and token-type tables plus the embedding LayerNorm. The word table is gathered on
/// the CPU (see [`super::WordTable`]) and enters [`Embeddings::forward`] as a dense tensor.
#[derive(Module, Debug)]
pub struct Embeddings {
    pub position: Param<Tensor<2>>,
    pub token_type: Param<Tensor<2>>,
    pub norm: LayerNorm,
}

impl Embeddings {
    /// `words`: gathered word vectors `[batch, len, hidden]`; every token has type 0 and
    /// positions start at 0 (BERT, unlike XLM-R's offset of 2).
    pub fn forward(&self, words: Tensor<3>) -> Tensor<3> {
        let [_, len, hidden] = words.dims();
        let pos = self.position.val().narrow(0, 0, len).unsqueeze_dim::<3>(0);
        let typ = self.token_type.val().narrow(0, 0, 1).reshape([1, 1, hidden]);
        self.norm.forward(words + pos + typ)
    }
}

/// One post-LN transformer block.
#[derive(Module, Debug)]
pub struct BertLayer {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub attn_out: Linear,
    pub attn_norm: LayerNorm,
    pub intermediate: Linear,
    pub output: Linear,
    pub out_norm: LayerNorm,
    pub num_heads: usize,
}

impl BertLayer {
    /// `attn_bias`: `[batch, 1, 1, len]`, 0 for real tokens and a large negative number for
    /// padding, so padded keys get no attention weight.
    pub fn forward(&self, x: Tensor<3>, attn_bias: Tensor<4>) -> Tensor<3> {
        use super::linear::forward as linear;
        let (q, k, v) = (linear(&self.query, x.clone()), linear(&self.key, x.clone()), linear(&self.value, x.clone()));
        let ctx = super::attention::multi_head(q, k, v, attn_bias, self.num_heads);
        let x = self.attn_norm.forward(x + linear(&self.attn_out, ctx));
        let ffn = linear(&self.output, super::activation::gelu(linear(&self.intermediate, x.clone())));
        self.out_norm.forward(x + ffn)
    }
}

/// The encoder stack without the word table.
#[derive(Module, Debug)]
pub struct Bert {
    pub embeddings: Embeddings,
    pub layers: Vec<BertLayer>,
}

/// Additive attention bias from a padding mask (`true` = padding): `[batch, 1, 1, len]`.
pub fn attention_bias(pad_mask: Tensor<2, Bool>) -> Tensor<4> {
    let [batch, len] = pad_mask.dims();
    // -1e4 rather than -inf: exp underflows to exactly 0 in f32 and f16 alike, and a row that is
    // all padding (never produced by the tokenizer) stays finite.
    pad_mask.float().mul_scalar(-1e4).reshape([batch, 1, 1, len])
}

/// Runs a stack of blocks on hidden states; the top of the encoder is such a stack, whether it
/// belongs to the pretrained model or to a fine-tuned checkpoint.
pub fn run_layers(layers: &[BertLayer], hidden: Tensor<3>, pad_mask: Tensor<2, Bool>) -> Tensor<3> {
    let bias = attention_bias(pad_mask);
    let mut x = hidden;
    for layer in layers {
        x = layer.forward(x, bias.clone());
    }
    x
}

impl Bert {
    /// Runs embeddings and layers `[0, upto)`; `upto = num_layers` is the whole encoder.
    pub fn forward_until(&self, words: Tensor<3>, pad_mask: Tensor<2, Bool>, upto: usize) -> Tensor<3> {
        let bias = attention_bias(pad_mask);
        let mut x = self.embeddings.forward(words);
        for layer in self.layers.iter().take(upto) {
            x = layer.forward(x, bias.clone());
        }
        x
    }

    pub fn forward(&self, words: Tensor<3>, pad_mask: Tensor<2, Bool>) -> Tensor<3> {
        self.forward_until(words, pad_mask, self.layers.len())
    }
}

impl BertConfig {
    /// A randomly initialised encoder of this shape (tests, and the base for loading).
    pub fn init(&self, device: &Device) -> Bert {
        let (h, f) = (self.hidden_size, self.intermediate_size);
        let norm = || LayerNormConfig::new(h).with_epsilon(self.layer_norm_eps).init(device);
        let layers = (0..self.num_layers)
            .map(|_| BertLayer {
                query: LinearConfig::new(h, h).init(device),
                key: LinearConfig::new(h, h).init(device),
                value: LinearConfig::new(h, h).init(device),
                attn_out: LinearConfig::new(h, h).init(device),
                attn_norm: norm(),
                intermediate: LinearConfig::new(h, f).init(device),
                output: LinearConfig::new(f, h).init(device),
                out_norm: norm(),
                num_heads: self.num_heads,
            })
            .collect();
        Bert {
            embeddings: Embeddings {
                position: Param::from_tensor(Tensor::zeros([self.max_position_embeddings, h], device)),
                token_type: Param::from_tensor(Tensor::zeros([self.type_vocab_size, h], device)),
                norm: norm(),
            },
            layers,
        }
    }

    /// Builds the encoder from validated weights (see [`Weights::validate`]).
    pub fn init_with(&self, weights: &Weights, device: &Device) -> Result<Bert, ModelError> {
        let mut bert = self.init(device);
        let get = |name: &str| {
            weights.get(name).map(|t| t.to_f32()).ok_or_else(|| ModelError::MissingTensor {
                file: "<weights>".into(),
                name: name.into(),
            })
        };
        let tensor2 = |name: &str, rows: usize, cols: usize| -> Result<Tensor<2>, ModelError> {
            Ok(Tensor::from_data(TensorData::new(get(name)?, [rows, cols]), device))
        };
        let tensor1 = |name: &str| -> Result<Tensor<1>, ModelError> {
            let v = get(name)?;
            let n = v.len();
            Ok(Tensor::from_data(TensorData::new(v, [n]), device))
        };
        // Stored [out, in] (PyTorch); Burn's Linear holds [in, out].
        let linear = |lin: &mut Linear, prefix: &str, d_out: usize, d_in: usize| -> Result<(), ModelError> {
            let w = get(&format!("{prefix}.w"))?;
            let mut t = vec![0f32; w.len()];
            for o in 0..d_out {
                for i in 0..d_in {
                    t[i * d_out + o] = w[o * d_in + i];
                }
            }
            lin.weight = Param::from_tensor(Tensor::from_data(TensorData::new(t, [d_in, d_out]), device));
            lin.bias = Some(Param::from_tensor(tensor1(&format!("{prefix}.b"))?));
            Ok(())
        };
        let norm = |ln: &mut LayerNorm, prefix: &str| -> Result<(), ModelError> {
            ln.gamma = Param::from_tensor(tensor1(&format!("{prefix}.w"))?);
            ln.beta = Some(Param::from_tensor(tensor1(&format!("{prefix}.b"))?));
            Ok(())
        };
        let (h, f) = (self.hidden_size, self.intermediate_size);
        bert.embeddings.position =
            Param::from_tensor(tensor2("emb.pos", self.max_position_embeddings, h)?);
        bert.embeddings.token_type = Param::from_tensor(tensor2("emb.type", self.type_vocab_size, h)?);
        norm(&mut bert.embeddings.norm, "emb.ln")?;
        for (l, layer) in bert.layers.iter_mut().enumerate() {
            linear(&mut layer.query, &format!("l{l}.q"), h, h)?;
            linear(&mut layer.key, &format!("l{l}.k"), h, h)?;
            linear(&mut layer.value, &format!("l{l}.v"), h, h)?;
            linear(&mut layer.attn_out, &format!("l{l}.ao"), h, h)?;
            norm(&mut layer.attn_norm, &format!("l{l}.aln"))?;
            linear(&mut layer.intermediate, &format!("l{l}.fi"), f, h)?;
            linear(&mut layer.output, &format!("l{l}.fo"), h, f)?;
            norm(&mut layer.out_norm, &format!("l{l}.oln"))?;
        }
        Ok(bert)
    }
}
