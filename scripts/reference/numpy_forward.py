"""Float32 numpy forward pass of multilingual-e5-small over the dequantised E5S1 weights:
BERT, post-LayerNorm, exact erf GELU, masked mean pooling, L2 normalisation. One text at a time
(no padding), so nothing depends on batching."""
import math
import os

import numpy as np

from e5s1 import read_e5s1

_erf = np.vectorize(math.erf, otypes=[np.float64])


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return ((x - mu) / np.sqrt(var + eps)) * w + b


def gelu(x):
    return (0.5 * x * (1.0 + _erf(x.astype(np.float64) / math.sqrt(2.0)))).astype(np.float32)


class NumpyE5:
    def __init__(self, model_path, tokenizer_path):
        from tokenizers import Tokenizer

        if os.path.isdir(model_path):
            # A Hugging Face BertModel folder (e.g. one `hybrid-ir export` wrote).
            from hf_folder import read_hf_dir

            self.cfg, self.t = read_hf_dir(model_path)
        else:
            self.cfg, self.t = read_e5s1(model_path)
        self.tok = Tokenizer.from_file(tokenizer_path)
        self.tok.no_truncation()
        self.tok.no_padding()

    def token_ids(self, text, kind):
        prefix = "query: " if kind == "query" else "passage: "
        return self.tok.encode(prefix + text).ids

    def embed_ids(self, ids):
        c, t = self.cfg, self.t
        h, nh, eps = c["hidden"], c["heads"], c["eps"]
        hd = h // nh
        n = len(ids)
        x = t["emb.word"][ids] + t["emb.pos"][:n] + t["emb.type"][0]
        x = layer_norm(x, t["emb.ln.w"], t["emb.ln.b"], eps)
        for l in range(c["layers"]):
            p = lambda name: t[f"l{l}.{name}"]
            lin = lambda v, name: v @ p(name + ".w").T + p(name + ".b")
            q = lin(x, "q").reshape(n, nh, hd).transpose(1, 0, 2)
            k = lin(x, "k").reshape(n, nh, hd).transpose(1, 0, 2)
            v = lin(x, "v").reshape(n, nh, hd).transpose(1, 0, 2)
            s = q @ k.transpose(0, 2, 1) / np.float32(math.sqrt(hd))
            s = np.exp(s - s.max(-1, keepdims=True))
            s = s / s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(1, 0, 2).reshape(n, h)
            x = layer_norm(x + lin(ctx, "ao"), p("aln.w"), p("aln.b"), eps)
            ffn = lin(gelu(lin(x, "fi")), "fo")
            x = layer_norm(x + ffn, p("oln.w"), p("oln.b"), eps)
        e = x.mean(0)
        return (e / np.linalg.norm(e)).astype(np.float32)

    def embed(self, text, kind):
        return self.embed_ids(self.token_ids(text, kind))
