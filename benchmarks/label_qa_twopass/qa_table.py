"""#16 item 4: label-qa's own figures, one row per `nnunet-svl label-qa` summary.json (benchmark datasets, run with
``--clean-labels``; a clean dataset's summary has no AUROCs and its row says how many cases were flagged; at ρ 1.0
every case is noisy and the case AUROC is undefined, n/a, left out of the mean).

usage: python qa_table.py SUMMARY.json...   (a markdown table on stdout; mean of each column over the rows last)
"""
from __future__ import annotations

import json
import math
import sys

COLUMNS = [("case AUROC", "case_auroc"), ("voxel AUROC", "voxel_auroc"), ("P@k", "precision_at_k"),
           ("flag precision", "flag_precision"), ("flag recall", "flag_recall")]


def main(paths: list[str]) -> None:
    defined = lambda v: v is not None and math.isfinite(v)   # noqa: E731  (case AUROC: NaN when every case is noisy)
    fmt = lambda v: f"{v:.3f}" if defined(v) else "n/a"   # noqa: E731
    print("| dataset | T | flagged / cases (noisy) | " + " | ".join(c for c, _ in COLUMNS) + " |")
    print("|---" * (3 + len(COLUMNS)) + "|")
    rows = [json.load(open(p)) for p in paths]
    for d in rows:
        noisy = len(d.get("noisy_cases", []))
        print(f"| {d['dataset']} | {d['temperature']:.2f} | {len(d['flagged'])} / {d['cases']} ({noisy}) | "
              + " | ".join(fmt(d.get(k)) for _, k in COLUMNS) + " |")
    means = []
    for _, k in COLUMNS:
        vals = [d[k] for d in rows if defined(d.get(k))]
        means.append(fmt(sum(vals) / len(vals)) if vals else "n/a")
    print(f"| mean of {len(rows)} | | {sum(len(d['flagged']) for d in rows)} flagged | " + " | ".join(means) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
