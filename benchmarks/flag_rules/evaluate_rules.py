"""Offline: how would other flag rules have done on the case scores a run's teacher gate logged?

Reads every "teacher gate: ... scores {...}" line of the SVLDRL training logs under a benchmark workspace, the truth
from each raw dataset's noise_manifest.json, and prints, per rule, the flag precision / recall over the gate's rounds
(pooled) and at the last round, and the number of clean cases flagged on the clean dataset.

    python benchmarks/flag_rules/evaluate_rules.py WS [--trainer nnUNetTrainerSVLDRL_bench]
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from nnunet_svl.teacher.case_flags import flag_threshold

LINE = re.compile(r"teacher gate: .*?scores \{(.*)\}")


def rounds_of(log: Path) -> list[dict[str, float]]:
    out = []
    for line in log.read_text().splitlines():
        m = LINE.search(line)
        if m:
            out.append({k.strip(): float(v) for k, v in (kv.split(":") for kv in m.group(1).split(","))})
    return out


def rule_current(s, margin=0.25, k=3.0):
    return flag_threshold(s, k=k, margin=margin)


RULES = {
    "k3 margin 0.25 (default)": lambda s: rule_current(s, 0.25),
    "k3 margin 0.15": lambda s: rule_current(s, 0.15),
    "k3 margin 0.10": lambda s: rule_current(s, 0.10),
    "k3 margin 0.05": lambda s: rule_current(s, 0.05),
    "k5 margin 0.10": lambda s: rule_current(s, 0.10, k=5.0),
}


def oracle_threshold(s, noisy_mask):
    """ORACLE: the threshold on these scores with the best F1 against the truth (bounds any threshold rule)."""
    best, best_t = -1.0, float("inf")
    for t in np.concatenate([[np.inf], np.sort(s) - 1e-9]):
        f = s > t
        tp = int((f & noisy_mask).sum()); fp = int((f & ~noisy_mask).sum()); fn = int((~f & noisy_mask).sum())
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
        if f1 > best:
            best, best_t = f1, t
    return best_t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("ws", type=Path)
    ap.add_argument("--trainer", default="nnUNetTrainerSVLDRL_bench")
    a = ap.parse_args()
    runs = []
    for log in sorted(a.ws.glob(f"results_seed*/Dataset*/{a.trainer}__*/fold_all/training_log_*.txt")):
        ds = log.parents[2].name
        rounds = rounds_of(log)
        if not rounds:
            continue
        man = json.loads((a.ws / "raw" / ds / "noise_manifest.json").read_text())["cases"] \
            if (a.ws / "raw" / ds / "noise_manifest.json").is_file() else {}
        noisy = {c for c, v in man.items() if v.get("noisy")}
        runs.append((f"{log.parents[3].name[-5:]} {ds}", rounds, noisy))
    rules = dict(RULES)
    rules["ORACLE threshold (best F1 per round)"] = None
    for name, rule in rules.items():
        print(f"== {name}")
        for run, rounds, noisy in runs:
            tp = fp = fn = 0
            for r in rounds:
                names = sorted(r)
                arr = np.array([r[n] for n in names])
                t = rule(arr) if rule else oracle_threshold(arr, np.array([n in noisy for n in names]))
                flagged = {n for n in names if r[n] > t}
                tp += len(flagged & noisy); fp += len(flagged - noisy); fn += len(noisy - flagged)
            r = rounds[-1]
            names = sorted(r)
            arr = np.array([r[n] for n in names])
            t = rule(arr) if rule else oracle_threshold(arr, np.array([n in noisy for n in names]))
            last = {n for n in names if r[n] > t}
            prec = tp / (tp + fp) if tp + fp else float("nan")
            rec = tp / (tp + fn) if tp + fn else float("nan")
            print(f"  {run:45s} rounds {len(rounds):2d} pooled P {prec:.2f} R {rec:.2f} | last: "
                  f"{len(last & noisy)}/{len(noisy)} noisy, {len(last - noisy)} clean flagged (thr {t:.3f})")


if __name__ == "__main__":
    main()
