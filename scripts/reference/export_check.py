"""Checks a folder `hybrid-ir export` wrote with tools we did not write into the Rust code: the
independent numpy forward pass (numpy_forward.py, reading the folder through hf_folder.py as a
Hugging Face BertModel) must give our native encoder's vectors of the same checkpoint on the
golden texts (cosine >= 0.9999, f32 export; 0.999 for f16), and the folder must hold the files and
JSON keys sentence-transformers documents for a Transformer -> Pooling(mean) -> Normalize model.

    python export_check.py --bin target/release/hybrid-ir --golden tests/golden/e5_small_golden.json \\
        --native-model models/sweep/alpha-0.5-seed-1 EXPORTED_DIR
Prints one JSON line; exits 1 on any failure."""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from numpy_forward import NumpyE5  # noqa: E402
import subprocess  # noqa: E402


def native(bin_path, texts, kind, model):
    """Our encoder's embeddings of `model`, one per input line (`hybrid-ir encode`)."""
    r = subprocess.run([bin_path, "encode", "--as", kind, "--model", model], input="\n".join(texts) + "\n", capture_output=True, text=True, check=True)
    return np.array([json.loads(line) for line in r.stdout.splitlines()], dtype=np.float32)

# What sentence-transformers reads (its documentation of a saved model folder).
ST_KEYS = {
    "modules.json": None,
    "config_sentence_transformers.json": {"prompts", "similarity_fn_name"},
    "sentence_bert_config.json": {"max_seq_length", "do_lower_case"},
    "1_Pooling/config.json": {"word_embedding_dimension", "pooling_mode_cls_token", "pooling_mode_mean_tokens", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens"},
    "config.json": {"architectures", "model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act", "vocab_size", "max_position_embeddings", "type_vocab_size", "layer_norm_eps"},
    "tokenizer_config.json": {"tokenizer_class", "model_max_length"},
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--golden", required=True)
    ap.add_argument("--native-model", default="base")
    ap.add_argument("--gate", type=float, default=0.9999)
    ap.add_argument("folder")
    a = ap.parse_args()
    problems = []
    for name, keys in ST_KEYS.items():
        path = os.path.join(a.folder, name)
        if not os.path.isfile(path):
            problems.append(f"missing {name}")
            continue
        doc = json.load(open(path, encoding="utf-8"))
        if keys and not keys <= set(doc):
            problems.append(f"{name} lacks {sorted(keys - set(doc))}")
    for f in ("model.safetensors", "tokenizer.json", "README.md"):
        if not os.path.isfile(os.path.join(a.folder, f)):
            problems.append(f"missing {f}")
    if not os.path.isdir(os.path.join(a.folder, "2_Normalize")):
        problems.append("missing 2_Normalize/")
    modules = json.load(open(os.path.join(a.folder, "modules.json")))
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    if kinds != ["Transformer", "Pooling", "Normalize"]:
        problems.append(f"modules.json: {kinds}")
    pool = json.load(open(os.path.join(a.folder, "1_Pooling/config.json")))
    if not pool.get("pooling_mode_mean_tokens") or pool.get("pooling_mode_cls_token"):
        problems.append("pooling is not mean pooling")
    prompts = json.load(open(os.path.join(a.folder, "config_sentence_transformers.json")))["prompts"]
    if prompts != {"query": "query: ", "passage": "passage: "}:
        problems.append(f"prompts {prompts}")

    ref = NumpyE5(a.folder, os.path.join(a.folder, "tokenizer.json"))
    if ref.cfg.get("format") != "pt":
        problems.append(f"safetensors metadata format {ref.cfg.get('format')!r}, transformers needs 'pt'")
    cases = [c for c in json.load(open(a.golden, encoding="utf-8"))["texts"] if c["text"].strip() and "\n" not in c["text"]]
    ours = np.zeros((len(cases), ref.cfg["hidden"]), dtype=np.float32)
    for kind in ("query", "passage"):
        rows = [i for i, c in enumerate(cases) if c["kind"] == kind]
        ours[rows] = native(a.bin, [cases[i]["text"] for i in rows], kind, a.native_model)
    theirs = np.stack([ref.embed(c["text"], c["kind"]) for c in cases])
    cos = np.sum(ours * theirs, axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    worst = float(np.min(cos))
    if worst < a.gate:
        problems.append(f"min cosine {worst:.7f} < {a.gate}")
    print(json.dumps({"folder": a.folder, "native_model": a.native_model, "texts": len(cases), "min_cos": round(worst, 7), "gate": a.gate, "problems": problems, "passed": not problems}))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
