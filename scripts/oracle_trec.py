"""Recomputes our per-query metrics with pytrec_eval (trec_eval's own code) from the exported
TREC run and qrels files, and fails unless every value agrees to 1e-6.
    python scripts/oracle_trec.py DIR     (DIR written by `hybrid-ir eval --trec --trec-depth 0`)
Compared: map, ndcg_cut_10, recall_10 (trec_eval's: divided by R) and recip_rank."""
import collections
import json
import os
import sys

import pytrec_eval

TOL = 1e-6


def read(path, run):
    out = collections.defaultdict(dict)
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if run:
                if len(parts) != 6:
                    raise SystemExit(f"{path}:{n}: expected 6 columns (qid Q0 doc rank score tag)")
                out[parts[0]][parts[2]] = float(parts[4])
            else:
                if len(parts) != 4:
                    raise SystemExit(f"{path}:{n}: expected 4 columns (qid 0 doc rel)")
                out[parts[0]][parts[2]] = int(parts[3])
    return out


def main():
    d = sys.argv[1]
    ours = json.load(open(os.path.join(d, "per_query.json")))
    worst, compared, bad = 0.0, 0, []
    for stem, queries in sorted(ours.items()):
        qrels = read(os.path.join(d, stem + ".qrels"), run=False)
        run = read(os.path.join(d, stem + ".run"), run=True)
        ev = pytrec_eval.RelevanceEvaluator(qrels, {"map", "ndcg_cut.10", "recall.10", "recip_rank"})
        res = ev.evaluate(run)
        for q, m in queries.items():
            theirs = res.get(q)
            if theirs is None:
                bad.append(f"{stem} {q}: not evaluated by trec_eval")
                continue
            for ours_key, trec_key in (("map", "map"), ("ndcg_cut_10", "ndcg_cut_10"),
                                       ("recall_10", "recall_10"), ("recip_rank", "recip_rank")):
                diff = abs(m[ours_key] - theirs[trec_key])
                worst = max(worst, diff)
                compared += 1
                if diff > TOL:
                    bad.append(f"{stem} {q} {trec_key}: ours {m[ours_key]:.9f} trec_eval {theirs[trec_key]:.9f}")
    print(f"oracle: {compared} values over {len(ours)} run files compared with pytrec_eval "
          f"{getattr(pytrec_eval, '__version__', '')}; max |diff| = {worst:.2e}")
    if bad or compared == 0:
        print("\n".join(bad[:20]) or "nothing compared", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
