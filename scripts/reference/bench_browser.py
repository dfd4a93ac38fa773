"""The native half of scripts/bench-browser (#11): the queries file the browser harness reads,
the native rows (native onnxruntime on the same ONNX graphs; our CLI), and the report: top-10
agreement of every engine's query vectors with our native ranking on the bundle's MKQA-R pool,
and the table.

    python bench_browser.py queries --texts T.txt --passages P.txt --warmup W --batch 32 --batches B \
        --tokenizer J --out Q.json
    python bench_browser.py native --queries Q.json --graph NAME=PATH ... --bin hybrid-ir --out N.json
    python bench_browser.py report --queries Q.json --browser B.json --native N.json \\
        --reference R.npy --passage-reference PR.npy --pool P.npy --meta M.json --out results/bench/browser.json
Numbers are measured here; nothing is typed in."""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

GRAPH_NAMES = {"model_q4.onnx": "4-bit graph", "model_int8.onnx": "int8 graph (transformers.js recipe)"}
MAX_LEN_QUERY = 64  # EncoderConfig::max_len_query
MAX_LEN_PASSAGE = 128  # EncoderConfig::max_len_passage
SEP_ID = 2


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))]


def queries(a):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(a.tokenizer)
    tok.no_truncation()
    tok.no_padding()

    def read(path, prefix, max_len):
        texts = [t for t in open(path, encoding="utf-8").read().split("\n") if t.strip()]
        ids = []
        for t in texts:
            row = tok.encode(prefix + t).ids
            ids.append(row if len(row) <= max_len else row[:max_len - 1] + [SEP_ID])
        return texts, ids

    texts, ids = read(a.texts, "query: ", MAX_LEN_QUERY)
    p_texts, p_ids = read(a.passages, "passage: ", MAX_LEN_PASSAGE)
    passages = {"texts": p_texts, "ids": p_ids, "batch": a.passage_batch, "mean_tokens": statistics.fmean(map(len, p_ids)) if p_ids else None}
    json.dump({"texts": texts, "ids": ids, "warmup": a.warmup, "batch": a.batch, "batches": a.batches, "sub_batch": a.sub_batch, "passages": passages},
              open(a.out, "w"), ensure_ascii=False)


def by_length(bs, ids):
    """The rows of `bs` sorted by token length and cut into batches of the same sizes."""
    rows = sorted((i for b in bs for i in b), key=lambda i: len(ids[i]))
    out, k = [], 0
    for b in bs:
        out.append(rows[k:k + len(b)])
        k += len(b)
    return out


def passage_batches(q):
    """Every whole batch of the passages (the harness measures the same ones)."""
    b = q["passages"]["batch"]
    return [list(range(i, i + b)) for i in range(0, len(q["passages"]["texts"]) - b + 1, b)]


def measured(q):
    return list(range(q["warmup"], len(q["texts"])))


def batches(q):
    m = measured(q)
    return [m[b:b + q["batch"]] for b in range(0, len(m) - q["batch"] + 1, q["batch"])][:q["batches"]]


def throughput(bs, run, batch):
    """Texts/s over the batches `bs`, after one unmeasured run of the first; None without any."""
    if not bs:
        return None
    run(bs[0])
    t = time.perf_counter()
    for rows in bs:
        run(rows)
    return len(bs) * batch / (time.perf_counter() - t)


def ort_rows(q, name, path, threads):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    t0 = time.perf_counter()
    s = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    init_ms = (time.perf_counter() - t0) * 1e3

    def run(rows, source=q["ids"]):
        n = max(len(source[i]) for i in rows)
        ids = np.ones((len(rows), n), dtype=np.int64)
        mask = np.zeros((len(rows), n), dtype=np.int64)
        for r, i in enumerate(rows):
            ids[r, :len(source[i])] = source[i]
            mask[r, :len(source[i])] = 1
        return s.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": mask})[0]

    for i in range(q["warmup"]):
        run([i])
    lat, vectors = [], []
    for i in measured(q):
        t = time.perf_counter()
        vectors.append(run([i])[0].tolist())
        lat.append((time.perf_counter() - t) * 1e3)
    # Batches as our CLI makes them: the texts sorted by length, then cut (less padding).
    per_s = throughput(by_length(batches(q), q["ids"]), run, q["batch"])
    p_per_s = throughput(by_length(passage_batches(q), q["passages"]["ids"]), lambda rows: run(rows, q["passages"]["ids"]), q["passages"]["batch"])
    return {"engine": "ort-native", "model": name, "threads": threads, "init_ms": init_ms, "p50_ms": pct(lat, 0.5), "p90_ms": pct(lat, 0.9),
            "mean_ms": statistics.fmean(lat), "batch": q["batch"], "batch_texts_per_s": per_s,
            "passage_batch": q["passages"]["batch"], "passage_texts_per_s": p_per_s, "vectors": vectors}


def ours_rows(q, bin_path, threads):
    # `threads` cores: side-by-side batches (--workers) and the kernels' own threads (rayon).
    env = {**os.environ, "RAYON_NUM_THREADS": str(threads)}
    with tempfile.TemporaryDirectory() as d:
        texts = os.path.join(d, "t.txt")
        # Warm-up texts first, as in the browser: the latency file covers every line.
        open(texts, "w", encoding="utf-8").write("\n".join(q["texts"]) + "\n")
        subprocess.run([bin_path, "encode", "--as", "query", "--input", texts, "--output", os.path.join(d, "v.npy"),
                        "--latencies", os.path.join(d, "l.json"), "--workers", str(threads)], env=env, check=True, capture_output=True)
        lat = json.load(open(os.path.join(d, "l.json")))[q["warmup"]:]
        vectors = np.load(os.path.join(d, "v.npy"))[q["warmup"]:]
        rows = [i for b in batches(q) for i in b]
        per_s = None
        if rows:
            open(texts, "w", encoding="utf-8").write("\n".join(q["texts"][i] for i in rows) + "\n")
            r = subprocess.run([bin_path, "encode", "--as", "query", "--input", texts, "--output", os.path.join(d, "b.npy"),
                                "--batch-size", str(q["batch"]), "--workers", str(threads)], env=env, check=True, capture_output=True, text=True)
            per_s = float(re.search(r"\(([0-9.]+) texts/s", r.stderr).group(1))
        p_per_s = None
        rows = [i for b in passage_batches(q) for i in b]
        if rows:
            open(texts, "w", encoding="utf-8").write("\n".join(q["passages"]["texts"][i] for i in rows) + "\n")
            r = subprocess.run([bin_path, "encode", "--as", "passage", "--input", texts, "--output", os.path.join(d, "p.npy"),
                                "--batch-size", str(q["passages"]["batch"]), "--workers", str(threads)], env=env, check=True, capture_output=True, text=True)
            p_per_s = float(re.search(r"\(([0-9.]+) texts/s", r.stderr).group(1))
    return {"engine": "ours-native", "threads": threads, "p50_ms": pct(lat, 0.5), "p90_ms": pct(lat, 0.9), "mean_ms": statistics.fmean(lat),
            "batch": q["batch"], "batch_texts_per_s": per_s, "passage_batch": q["passages"]["batch"], "passage_texts_per_s": p_per_s,
            "vectors": vectors.tolist()}


def native(a):
    q = json.load(open(a.queries, encoding="utf-8"))
    rows = []
    for threads in a.threads:
        rows.append(ours_rows(q, a.bin, threads))
        print(f"ours native, {threads} thread(s): p50 {rows[-1]['p50_ms']:.1f} ms", file=sys.stderr)
        for spec in a.graph:
            name, path = spec.split("=", 1)
            rows.append(ort_rows(q, name, path, threads))
            print(f"onnxruntime {name}, {threads} thread(s): p50 {rows[-1]['p50_ms']:.1f} ms", file=sys.stderr)
    json.dump(rows, open(a.out, "w"))


def top10(v, pool):
    scores = v @ pool.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :10]


def report(a):
    q = json.load(open(a.queries, encoding="utf-8"))
    ref = np.load(a.reference)
    pool = np.load(a.pool)
    want = top10(ref, pool)
    p_ref = np.load(a.passage_reference) if a.passage_reference else None
    rows = json.load(open(a.browser)) + json.load(open(a.native))
    bad = []
    for r in rows:
        if r.get("engine") == "none":
            continue
        # Passage batches: the vectors must be the passages' (role, length cut), not just fast.
        pv = np.asarray(r.pop("passage_vectors", None) or [], dtype=np.float32)
        if p_ref is not None and len(pv):
            if pv.shape != p_ref.shape:
                bad.append(f"{label(r)}: {pv.shape} passage vectors for {p_ref.shape} reference ones")
            else:
                cos = np.sum(pv * p_ref, axis=1) / np.linalg.norm(pv, axis=1) / np.linalg.norm(p_ref, axis=1)
                r["passage_min_cosine_to_native"] = float(np.min(cos))
                if (r["engine"].startswith("ours") or r.get("model") == "model_q4.onnx") and r["passage_min_cosine_to_native"] < 0.999:
                    bad.append(f"{label(r)}: passage vectors' least cosine to native {r['passage_min_cosine_to_native']:.4f} < 0.999")
        v = np.asarray(r.pop("vectors", None) or [], dtype=np.float32)
        if v.shape != ref.shape:
            bad.append(f"{label(r)}: {v.shape} vectors for {ref.shape} reference ones")
            continue
        got = top10(v, pool)
        r["top10_agreement"] = float(np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want)]))
        r["min_cosine_to_native"] = float(np.min(np.sum(v * ref, axis=1) / np.linalg.norm(v, axis=1) / np.linalg.norm(ref, axis=1)))
        # Largest change of any query-candidate score: how far apart two engines' near-ties can
        # fall (the e2e's bias-matrix comparison tolerates this much; `bias-matrix --tolerance`).
        r["max_score_diff_to_native"] = float(np.max(np.abs((v - ref) @ pool.T)))
        # Our engines and the 4-bit graph hold the very weights of the reference.
        if (r["engine"].startswith("ours") or r.get("model") == "model_q4.onnx") and r["top10_agreement"] < a.min_agreement:
            bad.append(f"{label(r)}: top-10 agreement {r['top10_agreement']:.3f} < {a.min_agreement}")
    pq = q.get("passages")
    passages = {"texts": len(pq["texts"]), "batch": pq["batch"], "mean_tokens": pq["mean_tokens"]} if pq else None
    out = {**json.load(open(a.meta)), "queries": len(measured(q)), "warmup": q["warmup"], "passages": passages, "pool_size": int(len(pool)), "runs": rows}
    tmp = a.out + ".partial"
    json.dump(out, open(tmp, "w"), indent=1)
    os.replace(tmp, a.out)
    print(table(out))
    for b in bad:
        print(f"bench-browser: FAILED: {b}", file=sys.stderr)
    if bad:
        sys.exit(1)


def label(r):
    if r["engine"] == "ours":
        return f"ours in the browser ({r['build']} build)"
    if r["engine"] == "ort":
        return f"onnxruntime-web, {GRAPH_NAMES.get(r['model'], r['model'])}"
    if r["engine"] == "ours-native":
        return "ours, native CLI"
    return f"onnxruntime native, {GRAPH_NAMES.get(r['model'], r['model'])}"


def table(out):
    """A markdown table of the report (README: "Browser engine vs onnxruntime-web")."""
    runs = [r for r in out["runs"] if r.get("engine") != "none" and "p50_ms" in r]
    anchor = {(r["model"], r["threads"]): r["p50_ms"] for r in runs if r["engine"] == "ort"}
    base = next((r for r in out["runs"] if r.get("engine") == "none"), {}).get("renderer_peak_bytes")
    f = lambda v, d=1: "-" if v is None else f"{v:,.{d}f}"
    pq = out.get("passages")
    lines = [f"Passages: {pq['texts']} XQuAD-R sentences, {pq['mean_tokens']:.0f} tokens on average.\n"] if pq else []
    qb = next((r["batch"] for r in runs if r.get("batch")), 32)
    pb = f"batch-{pq['batch']} " if pq else ""
    lines += [f"| engine | threads | p50 ms | p90 ms | vs ORT-web 4-bit p50 | first pass p50 / p90 ms | batch-{qb} queries/s | {pb}passages/s | cold start s | MB to the first vector (search index excluded) | peak MiB over an empty page | top-10 agreement |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        th = r.get("threads", 1)
        ratio = r["p50_ms"] / anchor[("model_q4.onnx", th)] if ("model_q4.onnx", th) in anchor and r["engine"] in ("ours", "ort") else None
        cold = r.get("cold", {}).get("total_ms")
        sent = r.get("cold", {}).get("bytes", r.get("bytes"))
        sent = sent - r.get("cold", {}).get("index_bytes", 0) if sent is not None else None
        mb = sent / 1e6 if sent is not None else None
        peak = r.get("renderer_peak_bytes")
        over = (peak - base) / 2**20 if peak and base else None
        # At or under an empty page's: the driver read a renderer that was not the engine's.
        over = "missed" if over is not None and over <= 0 else f(over, 0)
        first = f"{f(r['first_pass_p50_ms'])} / {f(r['first_pass_p90_ms'])}" if "first_pass_p50_ms" in r else "-"
        lines.append(f"| {label(r)} | {th} | {f(r['p50_ms'])} | {f(r['p90_ms'])} | {f(ratio, 2) + 'x' if ratio else '-'} | {first} | {f(r['batch_texts_per_s'])} | {f(r.get('passage_texts_per_s'))} | "
                     f"{f(cold / 1e3 if cold else None, 2)} | {f(mb)} | "
                     f"{over} | {f(r.get('top10_agreement'), 3)} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("queries")
    p.add_argument("--texts", required=True)
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--passages", required=True, help="passage texts, one per line, for batch throughput")
    p.add_argument("--passage-batch", type=int, default=32)
    p.add_argument("--sub-batch", type=int, default=8, help="texts per forward pass within a call (our worker's batch, src/web/worker.rs)")
    p.add_argument("--warmup", type=int, default=8)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--out", required=True)
    p = sub.add_parser("native")
    p.add_argument("--queries", required=True)
    p.add_argument("--graph", action="append", default=[], help="NAME=PATH of an ONNX graph")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--bin", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("report")
    for k in ("queries", "browser", "native", "reference", "pool", "meta", "out"):
        p.add_argument(f"--{k}", required=True)
    p.add_argument("--passage-reference", help="native vectors of the passages, in order (.npy)")
    p.add_argument("--min-agreement", type=float, default=0.9, help="least top-10 agreement of the engines with the reference's weights")
    p = sub.add_parser("table")
    p.add_argument("report")
    a = ap.parse_args()
    if a.cmd == "table":
        print(table(json.load(open(a.report))))
    else:
        {"queries": queries, "native": native, "report": report}[a.cmd](a)


if __name__ == "__main__":
    main()
