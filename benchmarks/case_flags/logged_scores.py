"""Collect the teacher gate's per-case scores of every label round from nnU-Net training logs of SVLDRL runs, with the
truth (noisy or clean) from each raw dataset's noise manifest, into one JSON for offline flag-rule analysis, and print
per run the rounds where a clean case scored above the gate's threshold (the default k and margin): the round, the
threshold, the clean case's score, and the lowest noisy score above the threshold.

    PYTHONPATH=. python benchmarks/case_flags/logged_scores.py OUT.json WS [WS ...]

WS: benchmark workspaces (results_seed*/DatasetXXX/TRAINER__.../fold_*/training_log_*.txt, raw/DatasetXXX/).
"""
import glob
import json
import os
import re
import sys

import numpy as np

from nnunet_svl.runtime.config import SVLConfig
from nnunet_svl.teacher.case_flags import flag_threshold

LINE = re.compile(r"teacher gate: .*?scores \{(.*)\}")


def rounds_of(log):
    out = []
    for line in open(log):
        m = LINE.search(line)
        if m:
            out.append({k.strip(): float(v) for k, v in (kv.split(":") for kv in m.group(1).split(","))})
    return out


def main(out, workspaces):
    runs = []
    for ws in workspaces:
        for log in sorted(glob.glob(f"{ws}/results_seed*/Dataset*/nnUNetTrainerSVLDRL*/fold_*/training_log_*.txt")):
            parts = log.split(os.sep)
            seed_dir, ds, trainer = parts[-5], parts[-4], parts[-3].split("__")[0]
            man = f"{ws}/raw/{ds}/noise_manifest.json"
            noisy = {}
            if os.path.exists(man):
                noisy = {c: bool(v["noisy"]) for c, v in json.load(open(man))["cases"].items()}
            r = rounds_of(log)
            if not r:
                continue
            runs.append({"workspace": ws, "seed": seed_dir, "dataset": ds, "trainer": trainer, "log": log,
                         "noisy": {c: noisy.get(c, False) for c in r[-1]}, "rounds": r})
    json.dump(runs, open(out, "w"), indent=1)
    print(f"{len(runs)} runs -> {out}")
    cfg = SVLConfig()
    for run in runs:
        for i, scores in enumerate(run["rounds"]):
            cut = flag_threshold(np.array(list(scores.values())), k=cfg.case_flag_k, margin=cfg.case_flag_margin)
            clean = {c: v for c, v in scores.items() if not run["noisy"][c] and v > cut}
            if clean:
                noisy = [v for c, v in scores.items() if run["noisy"][c] and v > cut]
                print(f"{run['seed']} {run['dataset']} {run['trainer']} round {i}: threshold {cut:.3f}, clean above it "
                      f"{ {c: round(v, 3) for c, v in clean.items()} }, lowest noisy above it "
                      f"{min(noisy) if noisy else '-'}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
