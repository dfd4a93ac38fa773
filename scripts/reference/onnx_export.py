"""ONNX graphs of our encoder for the browser head-to-head with onnxruntime-web (#11): the
dequantised 4-bit base weights (scripts/reference/e5s1.py), optionally with a fine-tuned delta
checkpoint's layers applied (`hybrid-ir train` writes them as f16 safetensors), as the same
computation as scripts/reference/numpy_forward.py: BERT with post-LayerNorm, exact erf GELU,
masked mean pooling, L2 normalisation. Inputs `input_ids`, `attention_mask` (int64 [batch, len]);
output `sentence_embedding` (float32 [batch, 384]).

    python onnx_export.py --model models/base/e5-small-q4.bin [--delta DIR] --out model.onnx
        [--int8 model_int8.onnx]     also the dynamic int8 graph (QInt8 weights, word table too)
        [--q4 model_q4.onnx]         also the 4-bit graph: MatMulNBits and GatherBlockQuantized
                                     (com.microsoft, block 32) holding the base file's own Q4_0
                                     blocks bit for bit; delta layers are quantised the Q4_0 way

Written from the model description; no code is taken from other exporters."""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e5s1 import read_e5s1  # noqa: E402

BLOCK = 32

LAYER_PARTS = {
    "attention.self.query": "q", "attention.self.key": "k", "attention.self.value": "v",
    "attention.output.dense": "ao", "attention.output.LayerNorm": "aln",
    "intermediate.dense": "fi", "output.dense": "fo", "output.LayerNorm": "oln",
}


def read_delta(folder):
    """{canonical name: float32 array} of a delta checkpoint's layers.safetensors (HF names)."""
    raw = open(os.path.join(folder, "layers.safetensors"), "rb").read()
    (n,) = struct.unpack_from("<Q", raw, 0)
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        parts = name.split(".")  # encoder.layer.L.<module...>.weight|bias
        if parts[:2] != ["encoder", "layer"]:
            raise ValueError(f"{folder}: tensor {name} is not a layer tensor")
        layer, module, wb = parts[2], ".".join(parts[3:-1]), parts[-1]
        dtype = {"F16": "<f2", "F32": "<f4"}[meta["dtype"]]
        lo, hi = meta["data_offsets"]
        arr = np.frombuffer(data[lo:hi], dtype=dtype).astype(np.float32).reshape(meta["shape"])
        out[f"l{layer}.{LAYER_PARTS[module]}.{'w' if wb == 'weight' else 'b'}"] = arr
    return out


class Graph:
    """A small builder: named initializers and nodes, fresh names for intermediates."""

    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def const(self, name, array):
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, domain=None, **attrs):
        self.n += 1
        out = f"{op_type.lower()}_{self.n}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], domain=domain, **attrs))
        return out


def quantise_q4_0(w):
    """Q4_0 of a float32 matrix along its rows (the ggml recipe: per block of 32, the scale is the
    value of largest magnitude over -8, so it lands on nibble 0): (scales [n_blocks], nibbles
    uint8 [n_blocks, 32])."""
    x = w.reshape(-1, BLOCK).astype(np.float32)
    extreme = x[np.arange(len(x)), np.argmax(np.abs(x), axis=1)]
    scale = (extreme / -8.0).astype(np.float16).astype(np.float32)
    inv = np.divide(1.0, scale, out=np.zeros_like(scale), where=scale != 0)
    q = np.clip(np.round(x * inv[:, None]) + 8, 0, 15).astype(np.uint8)
    return scale, q


def pack_nibbles(q, rows):
    """MatMulNBits' layout: [rows, blocks per row, 16], weight 2i in the low nibble of byte i."""
    q = q.reshape(rows, -1, BLOCK)
    return (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)


def q4_weight(g, name, blocks, w, flat=False):
    """(packed, scales) initializers for a [rows, cols] weight, the file's blocks when it had them;
    `flat`: packed as [rows, cols / 2] (GatherBlockQuantized) instead of MatMulNBits' 3-d form."""
    scale, q = blocks[name] if name in blocks else quantise_q4_0(w)
    rows = w.shape[0]
    packed = pack_nibbles(q, rows)
    return g.const(name + ".q4", packed.reshape(rows, -1) if flat else packed), g.const(name + ".q4s", scale.reshape(rows, -1))


def build(cfg, t, blocks=None):
    """The graph; with `blocks` (a dict of Q4_0 blocks, possibly empty) the linear layers and the
    word table are 4-bit (MatMulNBits / GatherBlockQuantized), else float32."""
    g = Graph()
    h, nh, eps = cfg["hidden"], cfg["heads"], cfg["eps"]
    hd = h // nh
    ids, mask = "input_ids", "attention_mask"
    # Embeddings: word + position (0..len) + token type 0, then LayerNorm.
    length = g.op("Gather", [g.op("Shape", [ids]), g.const("one_i", np.array(1, dtype=np.int64))], axis=0)
    positions = g.op("Range", [g.const("zero_i", np.array(0, dtype=np.int64)), length, "one_i"])
    if blocks is None:
        x = g.op("Gather", [g.const("emb.word", t["emb.word"]), ids], axis=0)
    else:
        packed, scales = q4_weight(g, "emb.word", blocks, t["emb.word"], flat=True)
        x = g.op("GatherBlockQuantized", [packed, ids, scales], domain="com.microsoft",
                 gather_axis=0, quantize_axis=1, block_size=BLOCK, bits=4)
    x = g.op("Add", [x, g.op("Gather", [g.const("emb.pos", t["emb.pos"]), positions], axis=0)])
    x = g.op("Add", [x, g.const("emb.type0", t["emb.type"][0])])
    ln = lambda v, w, b: g.op("LayerNormalization", [v, g.const(w, t[w]), g.const(b, t[b])], axis=-1, epsilon=eps)
    x = ln(x, "emb.ln.w", "emb.ln.b")
    # Padding: -1e9 on the scores of padded keys ([batch, 1, 1, len]).
    mask_f = g.op("Cast", [mask], to=TensorProto.FLOAT)
    key_bias = g.op("Mul", [g.op("Sub", [g.const("one_f", np.array(1.0, dtype=np.float32)), mask_f]), g.const("neg", np.array(-1e9, dtype=np.float32))])
    key_bias = g.op("Unsqueeze", [key_bias, g.const("axes_1_2", np.array([1, 2], dtype=np.int64))])
    heads_shape = g.const("heads_shape", np.array([0, 0, nh, hd], dtype=np.int64))
    hidden_shape = g.const("hidden_shape", np.array([0, 0, h], dtype=np.int64))
    scale = g.const("scale", np.array(1.0 / math.sqrt(hd), dtype=np.float32))
    half = g.const("half", np.array(0.5, dtype=np.float32))
    inv_sqrt2 = g.const("inv_sqrt2", np.array(1.0 / math.sqrt(2.0), dtype=np.float32))
    for l in range(cfg["layers"]):
        p = lambda name: f"l{l}.{name}"
        def lin(v, name):
            w = t[p(name) + ".w"]
            if blocks is None:
                y = g.op("MatMul", [v, g.const(p(name) + ".wT", w.T.copy())])
            else:
                packed, scales = q4_weight(g, p(name) + ".w", blocks, w)
                y = g.op("MatMulNBits", [v, packed, scales], domain="com.microsoft", K=w.shape[1], N=w.shape[0], bits=4, block_size=BLOCK)
            return g.op("Add", [y, g.const(p(name) + ".b", t[p(name) + ".b"])])
        split = lambda v, perm: g.op("Transpose", [g.op("Reshape", [v, heads_shape])], perm=perm)
        q = split(lin(x, "q"), [0, 2, 1, 3])
        k = split(lin(x, "k"), [0, 2, 3, 1])
        v = split(lin(x, "v"), [0, 2, 1, 3])
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), scale]), key_bias])
        ctx = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
        ctx = g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), hidden_shape])
        x = ln(g.op("Add", [x, lin(ctx, "ao")]), p("aln.w"), p("aln.b"))
        f = lin(x, "fi")
        f = g.op("Mul", [g.op("Mul", [f, half]), g.op("Add", [g.const(f"one_f{l}", np.array(1.0, dtype=np.float32)), g.op("Erf", [g.op("Mul", [f, inv_sqrt2])])])])
        x = ln(g.op("Add", [x, lin(f, "fo")]), p("oln.w"), p("oln.b"))
    # Masked mean over tokens, then L2 normalisation.
    m3 = g.op("Unsqueeze", [mask_f, g.const("axis_2", np.array([2], dtype=np.int64))])
    axis1 = g.const("axis_1", np.array([1], dtype=np.int64))
    summed = g.op("ReduceSum", [g.op("Mul", [x, m3]), axis1], keepdims=0)
    count = g.op("ReduceSum", [mask_f, axis1], keepdims=1)
    mean = g.op("Div", [summed, count])
    norm = g.op("ReduceL2", [mean], axes=[1], keepdims=1)
    g.nodes.append(helper.make_node("Div", [mean, norm], ["sentence_embedding"]))
    graph = helper.make_graph(
        g.nodes, "hybrid_ir_e5_small",
        [helper.make_tensor_value_info(ids, TensorProto.INT64, ["batch", "len"]),
         helper.make_tensor_value_info(mask, TensorProto.INT64, ["batch", "len"])],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", h])],
        g.inits,
    )
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid("com.microsoft", 1)] if blocks is not None else [])
    model = helper.make_model(graph, opset_imports=opsets, producer_name="hybrid-ir")
    model.ir_version = 8
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="E5S1 base model file")
    ap.add_argument("--delta", help="a checkpoint folder of `hybrid-ir train` (its layers replace the base's)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--int8", help="also write the dynamic int8 graph here")
    ap.add_argument("--q4", help="also write the 4-bit graph here")
    a = ap.parse_args()
    blocks = {}
    cfg, t = read_e5s1(a.model, blocks)
    if a.delta:
        d = read_delta(a.delta)
        unknown = sorted(k for k in d if k not in t)
        if unknown:
            raise SystemExit(f"{a.delta}: tensors the base does not have: {unknown[:5]}")
        t.update(d)
        for name in d:
            blocks.pop(name, None)  # the checkpoint's layers are quantised afresh
        print(f"applied {len(d)} delta tensors from {a.delta}", file=sys.stderr)
    model = build(cfg, t)
    onnx.checker.check_model(model)
    onnx.save(model, a.out)
    print(f"wrote {a.out} ({os.path.getsize(a.out) / 1e6:.1f} MB)", file=sys.stderr)
    if a.int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(a.out, a.int8, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gather"])
        print(f"wrote {a.int8} ({os.path.getsize(a.int8) / 1e6:.1f} MB)", file=sys.stderr)
    if a.q4:
        q4 = build(cfg, t, blocks)
        onnx.checker.check_model(q4)
        onnx.save(q4, a.q4)
        print(f"wrote {a.q4} ({os.path.getsize(a.q4) / 1e6:.1f} MB)", file=sys.stderr)


if __name__ == "__main__":
    main()
