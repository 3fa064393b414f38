"""Paired difference of two methods in one benchmark report (Dice points; the report's own statistics: 95 % t over
seeds × test cases and the cluster bootstrap), e.g. the new default against the previous one on the same runs.

    PYTHONPATH=. python benchmarks/case_flags/paired.py REPORT/benchmark.json GROUP METHOD BASELINE
"""
import json
import sys

from nnunet_svl.tools.stats import compare_to_baseline


def main(report, group, method, baseline):
    runs = [r for rs in json.load(open(report))["settings"].values() for r in rs if r["group"] == group]

    def dice(name):
        return {r["seed"]: r["per_case"]["dice"] for r in runs if r["method"] == name}

    res = compare_to_baseline(dice(method), dice(baseline), scale=100)
    t, b = res["t_interval"], res["bootstrap_interval"]
    print(f"{group}: {method} - {baseline}: {res['mean_diff']:+.2f} [{t[0]:+.2f}, {t[1]:+.2f}], bootstrap "
          f"[{b[0]:+.2f}, {b[1]:+.2f}] ({res['n_pairs']} pairs, seeds {res['seeds']})")


if __name__ == "__main__":
    main(*sys.argv[1:5])
