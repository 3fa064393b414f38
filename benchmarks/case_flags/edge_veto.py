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
EDGE = re.compile(r"edge repair: (\S+): edge offset ([-+0-9.na]+)(?: ± [0-9.na]+)? voxels.*?\(t ([0-9.inf]+), channel (-?\d+)\)(.*?); "
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
    step_strengths(workspaces, tolerance)


def step_strengths(workspaces, tolerance):
    """The evidence behind the two rules, per dataset (one run each: the fits depend on the dataset only): t of the
    clean labels' fits and of the eroded ones; t / the median t of the on-edge trusted fits, clean and noisy."""
    print("\ndataset | clean labels' t: min, median, max | eroded labels' t | on-edge t / their median: clean max, "
          "noisy (operation, ratio)")
    seen, clean_ratios, noisy_ratios = set(), [], []
    for ws in workspaces:
        for log in sorted(glob.glob(f"{ws}/results_seed*/Dataset*/nnUNetTrainerSVLDRL*/fold_*/training_log_*.txt")):
            ds = log.split(os.sep)[-4]
            if (ws, ds) in seen:
                continue
            seen.add((ws, ds))
            _, fits = parse(log)
            man = f"{ws}/raw/{ds}/noise_manifest.json"
            cases = json.load(open(man))["cases"] if os.path.exists(man) else {}
            op = {c: v.get("operations", {}).get("1", {}) for c, v in cases.items() if v.get("noisy")}
            clean_t = sorted(f["t"] for c, f in fits.items() if c not in op)
            eroded = sorted((round(f["t"], 1), op[c].get("side")) for c, f in fits.items()
                            if op.get(c, {}).get("operation") == "erode")
            on = {c: f["t"] for c, f in fits.items() if f["trusted"] and abs(f["offset"]) <= tolerance}
            ratios = ""
            if len(on) >= 4:
                med = float(np.median(list(on.values())))
                cr = [t / med for c, t in on.items() if c not in op]
                nr = sorted((round(t / med, 2), op[c].get("operation", "")) for c, t in on.items() if c in op)
                clean_ratios += cr
                if len(cr) >= len(on) / 2:          # half-clean sets: the reference is the clean labels'
                    noisy_ratios += [r for r, _ in nr]
                ratios = f"{max(cr):.2f} | {nr}" if cr else f"- | {nr}"
            ct = f"{clean_t[0]:.1f}, {np.median(clean_t):.1f}, {clean_t[-1]:.1f}" if clean_t else "-"
            print(f"{ds[7:]:32s} | {ct} | {eroded} | {ratios}")
    if clean_ratios and noisy_ratios:
        print(f"on-edge ratio: clean {min(clean_ratios):.2f} to {max(clean_ratios):.2f} ({len(clean_ratios)} fits); "
              f"noisy in half-clean "
              f"sets: {sorted(noisy_ratios)}")


if __name__ == "__main__":
    main(sys.argv[1:])
