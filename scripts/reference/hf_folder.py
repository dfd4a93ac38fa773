"""Independent reader for a Hugging Face BertModel folder (config.json + model.safetensors), as
transformers writes one: written from the safetensors format (8-byte header length, JSON header,
raw little-endian tensors) and BertModel's parameter names, not from the Rust code, so checking
hybrid-ir's export against it compares two implementations."""
import json
import os
import struct

import numpy as np

_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None}


def read_safetensors(path):
    buf = open(path, "rb").read()
    (n,) = struct.unpack_from("<Q", buf, 0)
    header = json.loads(buf[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        raw = np.frombuffer(buf[base + lo : base + hi], dtype=np.uint8)
        if info["dtype"] == "BF16":
            arr = (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            arr = raw.view(np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<")).astype(np.float32)
        out[name] = arr.reshape(info["shape"])
    return header.get("__metadata__", {}), out


_LAYER = {
    "attention.self.query": "q",
    "attention.self.key": "k",
    "attention.self.value": "v",
    "attention.output.dense": "ao",
    "attention.output.LayerNorm": "aln",
    "intermediate.dense": "fi",
    "output.dense": "fo",
    "output.LayerNorm": "oln",
}
_EMB = {
    "embeddings.word_embeddings.weight": "emb.word",
    "embeddings.position_embeddings.weight": "emb.pos",
    "embeddings.token_type_embeddings.weight": "emb.type",
    "embeddings.LayerNorm.weight": "emb.ln.w",
    "embeddings.LayerNorm.bias": "emb.ln.b",
}


def read_hf_dir(path):
    """(config dict in numpy_forward's keys, {short name: float32 array}) of a BertModel folder."""
    cfg = json.load(open(os.path.join(path, "config.json")))
    meta, st = read_safetensors(os.path.join(path, "model.safetensors"))
    tensors = {}
    for name, arr in st.items():
        name = name[len("bert.") :] if name.startswith("bert.") else name
        if name in _EMB:
            tensors[_EMB[name]] = arr
        elif name.startswith("encoder.layer."):
            rest = name[len("encoder.layer.") :]
            layer, _, module = rest.partition(".")
            module, _, wb = module.rpartition(".")
            tensors[f"l{layer}.{_LAYER[module]}.{'w' if wb == 'weight' else 'b'}"] = arr
    config = {
        "hidden": cfg["hidden_size"],
        "layers": cfg["num_hidden_layers"],
        "heads": cfg["num_attention_heads"],
        "eps": cfg["layer_norm_eps"],
        "format": meta.get("format"),
    }
    return config, tensors
