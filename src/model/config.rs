use burn::config::Config;

/// Architecture of a BERT encoder (multilingual-e5-small by default).
///
/// Built with Burn's idiom: `BertConfig::new().with_num_layers(2).init(&device)`.
#[derive(Config, Debug, PartialEq)]
pub struct BertConfig {
    #[config(default = 384)]
    pub hidden_size: usize,
    #[config(default = 12)]
    pub num_layers: usize,
    #[config(default = 12)]
    pub num_heads: usize,
    #[config(default = 1536)]
    pub intermediate_size: usize,
    #[config(default = 250037)]
    pub vocab_size: usize,
    #[config(default = 512)]
    pub max_position_embeddings: usize,
    #[config(default = 2)]
    pub type_vocab_size: usize,
    #[config(default = 1e-12)]
    pub layer_norm_eps: f64,
    /// Token id of padding (XLM-R `<pad>`).
    #[config(default = 1)]
    pub pad_token_id: u32,
}

impl BertConfig {
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads
    }

    /// Expected shape of every tensor, by canonical name; the loaders check sizes against it.
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (h, f) = (self.hidden_size, self.intermediate_size);
        let mut out = vec![
            ("emb.word".to_string(), vec![self.vocab_size, h]),
            ("emb.pos".to_string(), vec![self.max_position_embeddings, h]),
            ("emb.type".to_string(), vec![self.type_vocab_size, h]),
            ("emb.ln.w".to_string(), vec![h]),
            ("emb.ln.b".to_string(), vec![h]),
        ];
        for l in 0..self.num_layers {
            for (name, shape) in [
                ("q.w", vec![h, h]),
                ("q.b", vec![h]),
                ("k.w", vec![h, h]),
                ("k.b", vec![h]),
                ("v.w", vec![h, h]),
                ("v.b", vec![h]),
                ("ao.w", vec![h, h]),
                ("ao.b", vec![h]),
                ("aln.w", vec![h]),
                ("aln.b", vec![h]),
                ("fi.w", vec![f, h]),
                ("fi.b", vec![f]),
                ("fo.w", vec![h, f]),
                ("fo.b", vec![h]),
                ("oln.w", vec![h]),
                ("oln.b", vec![h]),
            ] {
                out.push((format!("l{l}.{name}"), shape));
            }
        }
        out
    }
}
