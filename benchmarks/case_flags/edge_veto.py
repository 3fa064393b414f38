"""Offline: the teacher gate's flags of finished runs replayed with the image evidence of the edge fits [instrument].

For every SVLDRL run in the workspaces: the gate's flagged cases per label round (parsed from the training log: what
the run decided) and each case's first edge fit (the same log: offset, t, trusted), against the truth of the noise
manifest. Replayed on them, as the gate of 286d797 and later applies them:
  * the veto (``case_flag_edge_veto``): flags removed from cases the image confirms (``image_confirmed``);
  * the under-drawn flags (``case_flag_edge_absent``): cases without an intensity step (``flag_edge_absent``) added.
A replay, not a rerun: later rounds of a run whose flags change would see another teacher.

    PYTHONPATH=. python benchmarks/case_flags/edge_veto.py WS [WS ...]
"""
import glob
import json
import os
import re
import sys

import numpy as np

from nnunet_svl.edge.boundary import MIN_STEP_T
from nnunet_svl.teacher.case_flags import flag_edge_absent, image_confirmed

GATE = re.compile(r"teacher gate: (\d+) of (\d+) cases flagged \((\[.*?\])\)")
EDGE = re.compile(r"edge repair: (\S+): edge offset ([-+0-9.na]+) voxels.*?\(t ([0-9.inf]+), channel (-?\d+)\)(.*?); "
                  r"(\d+) voxels moved")


def parse(log):
    """(flagged cases per round, first edge fit per case) from an nnU-Net training log of an SVLDRL run."""
    rounds, fits = [], {}
    for line in open(log):
        m = GATE.search(line)
        if m:
            rounds.append(set(re.findall(r"'([^']+)'", m.group(3))))
        m = EDGE.search(line)
        if m and m.group(1) not in fits:
            fits[m.group(1)] = {"offset": float(m.group(2)), "t": float(m.group(3)) if m.group(4) != "-1" else np.nan,
                                "trusted": "not trusted" not in m.group(5), "moved": int(m.group(6))}
    return rounds, fits


def main(workspaces, tolerance=1.0):
    tot = dict(clean_ever=0, clean_ever_new=0, noisy_found=0, noisy_found_new=0, noisy=0)
    print("run | clean cases flagged in any round: run -> replay | noisy found in the last round (gate or repair): "
          "run -> replay / noisy")
    for ws in workspaces:
        for log in sorted(glob.glob(f"{ws}/results_seed*/Dataset*/nnUNetTrainerSVLDRL*/fold_*/training_log_*.txt")):
            parts = log.split(os.sep)
            ds, trainer = parts[-4], parts[-3].split("__")[0]
            rounds, fits = parse(log)
            if not rounds:
                continue
            man = f"{ws}/raw/{ds}/noise_manifest.json"
            truth = {c: bool(v["noisy"]) for c, v in json.load(open(man))["cases"].items()} if os.path.exists(man) else {}
            confirmed = image_confirmed({c: (f["offset"], f["t"], f["trusted"]) for c, f in fits.items()}, tolerance)
            absent = flag_edge_absent({c: f["t"] for c, f in fits.items()}, MIN_STEP_T)
            replay = [(r - confirmed) | absent for r in rounds]
            repaired = {c for c, f in fits.items() if f["moved"] > 0}
            noisy = {c for c in fits if truth.get(c, False)}
            ever, ever_new = set().union(*rounds) - noisy, set().union(*replay) - noisy
            found, found_new = (rounds[-1] | repaired) & noisy, (replay[-1] | repaired) & noisy
            print(f"{parts[-5][-5:]} {ds[7:]:32s} {trainer[19:]:18s} | {sorted(ever)} -> {sorted(ever_new)} | "
                  f"{len(found)} -> {len(found_new)} / {len(noisy)}"
                  f"{'  lost ' + str(sorted(found - found_new)) if found - found_new else ''}"
                  f"{'  gained ' + str(sorted(found_new - found)) if found_new - found else ''}")
            for k, v in (("clean_ever", ever), ("clean_ever_new", ever_new), ("noisy_found", found),
                         ("noisy_found_new", found_new), ("noisy", noisy)):
                tot[k] += len(v)
    print(json.dumps(tot))


if __name__ == "__main__":
    main(sys.argv[1:])
