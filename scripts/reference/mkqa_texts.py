"""Prints N MKQA questions, one per line: the first ceil(N/12) rows of each mia-dev language file
in sorted language order, cut to N. Deterministic, so every engine sees the same texts."""
import argparse
import glob
import json
import math
import os

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--n", type=int, default=1000)
ap.add_argument("--data", default=os.environ.get("HYBRID_IR_DATA", "../shared/data"))
a = ap.parse_args()
files = sorted(glob.glob(os.path.join(a.data, "mkqa", "mia-dev", "mkqa-*.jsonl")))
if not files:
    raise SystemExit(f"no MKQA files under {a.data}/mkqa/mia-dev (set --data or HYBRID_IR_DATA)")
per = math.ceil(a.n / len(files))
out = []
for f in files:
    with open(f, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i >= per:
                break
            out.append(" ".join(json.loads(line)["question"].split()))
print("\n".join(out[:a.n]))
