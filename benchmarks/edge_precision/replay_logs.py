"""Replay the edge repair's step rule (``edge_step_ratio``, ``nnunet_svl.edge.boundary.on_edge_step_reference``) on
finished training runs: each run's log holds every case's first fit as the trainer made it, in nnU-Net's preprocessed
geometry ("edge repair: CASE: edge offset +X voxels ... (t T, channel C)[ not trusted: ...]"). Which labels did the
run move (the offset alone, the default before 2026-12-03) and which would the step rule keep in place?

usage: python replay_logs.py RUN_FOLDER [...]     (a trainer's fold folder, with its training_log_*.txt)
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from nnunet_svl.edge.boundary import on_edge_step_reference

LINE = re.compile(r"edge repair: (\S+): edge offset ([+-][\d.]+|nan)(?: ± [\d.na]+)? voxels.*?\(t ([\d.]+), channel "
                  r"(-?\d+)\)( not trusted)?")


def fits_from_log(run: Path) -> dict:
    logs = sorted(run.glob("training_log_*.txt"))
    fits = {}
    for line in logs[0].read_text().splitlines() if logs else []:
        m = LINE.search(line)
        if m and m.group(1) not in fits:
            fits[m.group(1)] = (float(m.group(2)), float(m.group(3)), m.group(5) is None)
    return fits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--tolerance", type=float, default=1.0)
    ap.add_argument("--ratio", type=float, default=2.0)
    args = ap.parse_args()
    print(f"tolerance {args.tolerance}, step ratio {args.ratio}: moved by the offset alone -> kept by the step rule")
    for run in args.runs:
        fits = fits_from_log(run)
        if not fits:
            print(f"{run}: no edge-repair lines")
            continue
        ref = on_edge_step_reference(fits, args.tolerance)
        moved = sorted(c for c, (o, t, ok) in fits.items() if ok and o > args.tolerance)
        kept = [c for c in moved if np.isfinite(ref) and fits[c][1] < args.ratio * ref]
        ratios = " ".join(f"{fits[c][1] / ref:.2f}" for c in moved) if np.isfinite(ref) else "-"
        name = "/".join(run.parts[-4:-1])
        print(f"{name}: reference t {ref:.1f}; moved {len(moved)}; the step rule keeps {len(kept)} {kept}; "
              f"step ratios of the moved: {ratios}")


if __name__ == "__main__":
    main()
