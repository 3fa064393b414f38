"""Offline: which of the teacher gate's flags would an image-edge veto remove? [instrument]

For every SVLDRL run in the workspaces, the gate's flagged cases per label round (parsed from the training log) and
each case's first edge fit (the same log: offset, t, trusted or not), against the truth of the noise manifest. The
veto: a case whose label sits on a trusted image edge (fit trusted, |offset| <= TOL voxels) is not flagged.

    python benchmarks/case_flags/edge_veto.py [--tol 1.0] WS [WS ...]
"""
import argparse
import glob
import json
import os
import re

GATE = re.compile(r"teacher gate: (\d+) of (\d+) cases flagged \((\[.*?\])\)")
EDGE = re.compile(r"edge repair: (\S+): edge offset ([-+0-9.na]+) voxels.*?\(t ([0-9.inf]+), channel (-?\d+)\)(.*?); "
                  r"(\d+) voxels moved")


def parse(log):
    rounds, fits = [], {}
    for line in open(log):
        m = GATE.search(line)
        if m:
            rounds.append(set(eval(m.group(3))))
        m = EDGE.search(line)
        if m and m.group(1) not in fits:
            fits[m.group(1)] = {"offset": float(m.group(2)), "t": float(m.group(3)),
                                "trusted": "not trusted" not in m.group(5), "moved": int(m.group(6))}
    return rounds, fits


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tol", type=float, default=1.0)
    ap.add_argument("workspaces", nargs="+")
    a = ap.parse_args()
    tot = {"clean_ever": 0, "clean_ever_veto": 0, "noisy_found": 0, "noisy_found_veto": 0, "noisy": 0}
    print("run | clean flagged ever: now -> veto | noisy found at the end (gate or repair): now -> veto / noisy")
    for ws in a.workspaces:
        for log in sorted(glob.glob(f"{ws}/results_seed*/Dataset*/nnUNetTrainerSVLDRL*/fold_*/training_log_*.txt")):
            parts = log.split(os.sep)
            ds, trainer = parts[-4], parts[-3].split("__")[0]
            rounds, fits = parse(log)
            if not rounds:
                continue
            man = f"{ws}/raw/{ds}/noise_manifest.json"
            truth = {c: bool(v["noisy"]) for c, v in json.load(open(man))["cases"].items()} if os.path.exists(man) else {}
            cases = sorted(fits) or sorted(set().union(*rounds))
            on_edge = {c for c, f in fits.items() if f["trusted"] and abs(f["offset"]) <= a.tol}
            repaired = {c for c, f in fits.items() if f["moved"] > 0}
            ever = set().union(*rounds)
            clean_ever = {c for c in ever if not truth.get(c, False)}
            noisy = {c for c in cases if truth.get(c, False)}
            found = (rounds[-1] | repaired) & noisy
            found_v = ((rounds[-1] - on_edge) | repaired) & noisy
            lost = sorted(found - found_v)
            print(f"{parts[-5][-5:]} {ds[7:]:32s} {trainer[19:]:18s} | {sorted(clean_ever)} -> "
                  f"{sorted(clean_ever - on_edge)} | {len(found)} -> {len(found_v)} / {len(noisy)}"
                  + (f"  lost {lost} (offsets {[fits[c]['offset'] for c in lost]})" if lost else ""))
            tot["clean_ever"] += len(clean_ever)
            tot["clean_ever_veto"] += len(clean_ever - on_edge)
            tot["noisy_found"] += len(found)
            tot["noisy_found_veto"] += len(found_v)
            tot["noisy"] += len(noisy)
    print(json.dumps(tot))


if __name__ == "__main__":
    main()
