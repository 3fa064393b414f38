"""Paired difference between two methods of one benchmark report (same seed, same test case), per seed and pooled:
mean, 95 % t-interval over seeds × cases, and the benchmark's two-level cluster bootstrap (seeds, then cases).

    python benchmarks/flagged_sampling/paired.py REPORT/benchmark.json METHOD_A METHOD_B [GROUP ...]
"""
from __future__ import annotations

import json
import sys

from nnunet_svl.tools.stats import cluster_bootstrap, paired_differences, t_interval


def main() -> None:
    report, a, b = json.loads(open(sys.argv[1]).read()), sys.argv[2], sys.argv[3]
    groups = sys.argv[4:] or sorted({r["group"] for rows in report["settings"].values() for r in rows} - {"clean"})
    for group in groups:
        values: dict[str, dict[int, dict]] = {a: {}, b: {}}
        for rows in report["settings"].values():
            for r in rows:
                if r["group"] == group and r["method"] in values:
                    values[r["method"]][r["seed"]] = dict(zip(r["case_ids"], r["per_case"]["dice"]))
        per_seed = {s: 100 * d for s, d in paired_differences(values[a], values[b]).items()}
        mean, lo, hi, _ = t_interval(per_seed)
        blo, bhi = cluster_bootstrap(per_seed)
        seeds = " / ".join(f"{per_seed[s].mean():+.2f}" for s in sorted(per_seed))
        print(f"{group}: {a} − {b}: {mean:+.2f} pts, t [{lo:+.2f}, {hi:+.2f}], bootstrap [{blo:+.2f}, "
              f"{bhi:+.2f}], per seed ({', '.join(map(str, sorted(per_seed)))}) {seeds}")


if __name__ == "__main__":
    main()
