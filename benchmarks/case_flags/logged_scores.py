"""Collect the teacher gate's per-case scores of every label round from nnU-Net training logs of SVLDRL runs, with the
truth (noisy or clean) from each raw dataset's noise manifest, into one JSON for offline flag-rule analysis.

    python benchmarks/case_flags/logged_scores.py OUT.json WS [WS ...]

WS: benchmark workspaces (results_seed*/DatasetXXX/TRAINER__.../fold_*/training_log_*.txt, raw/DatasetXXX/).
"""
import glob
import json
import os
import re
import sys

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


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
