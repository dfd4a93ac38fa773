"""The gate of the ONNX graphs (#11): an fp32 graph from onnx_export.py, run by native
onnxruntime, must give the golden texts' embeddings of our native encoder (`hybrid-ir encode`)
at cosine >= 0.9999, one text at a time and as one padded batch (so the mask path counts too).
Graphs after the first `--gated` ones (quantised away from our weights) are reported against the
same vectors, not gated.

    python onnx_gate.py --bin target/release/hybrid-ir --tokenizer models/base/tokenizer.json \\
        --golden tests/golden/e5_small_golden.json GRAPH.onnx [MORE.onnx ...]
Prints one JSON line per graph; exits 1 when a gated graph misses the gate."""
import argparse
import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

GATE = 0.9999


def native(bin_path, texts, kind, model):
    """Our encoder's embeddings (of `model`: base or a checkpoint folder), one per input line."""
    r = subprocess.run([bin_path, "encode", "--as", kind, "--model", model], input="\n".join(texts) + "\n", capture_output=True, text=True, check=True)
    return np.array([json.loads(line) for line in r.stdout.splitlines()], dtype=np.float32)


def run(session, batch):
    n = max(len(ids) for ids in batch)
    ids = np.zeros((len(batch), n), dtype=np.int64)
    mask = np.zeros((len(batch), n), dtype=np.int64)
    for i, row in enumerate(batch):
        ids[i, :len(row)] = row
        mask[i, :len(row)] = 1
    return session.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": mask})[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--golden", required=True)
    ap.add_argument("--native-model", default="base", help="what `hybrid-ir encode --model` compares with")
    ap.add_argument("--gated", type=int, default=1, help="how many leading graphs must pass the gate")
    ap.add_argument("graphs", nargs="+")
    a = ap.parse_args()
    cases = [c for c in json.load(open(a.golden, encoding="utf-8"))["texts"] if c["text"].strip() and "\n" not in c["text"]]
    tok = Tokenizer.from_file(a.tokenizer)
    tok.no_truncation()
    tok.no_padding()
    ids = [tok.encode(("query: " if c["kind"] == "query" else "passage: ") + c["text"]).ids for c in cases]
    want = np.zeros((len(cases), 384), dtype=np.float32)
    for kind in ("query", "passage"):
        rows = [i for i, c in enumerate(cases) if c["kind"] == kind]
        if rows:
            want[rows] = native(a.bin, [cases[i]["text"] for i in rows], kind, a.native_model)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    failed = False
    for k, path in enumerate(a.graphs):
        s = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        one = np.concatenate([run(s, [row]) for row in ids])
        padded = run(s, ids)
        cos = lambda got: float(np.min(np.sum(got * want, axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)))
        out = {"graph": path, "texts": len(cases), "min_cos_one_at_a_time": round(cos(one), 7), "min_cos_padded_batch": round(cos(padded), 7)}
        if k < a.gated:
            out["gate"] = GATE
            out["passed"] = min(out["min_cos_one_at_a_time"], out["min_cos_padded_batch"]) >= GATE
            failed = failed or not out["passed"]
        print(json.dumps(out))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
