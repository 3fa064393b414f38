"""Which cases a finished run found noisy (issue 13, "per-case noise flags"): flagged by the teacher gate, moved to
the image's edge by the edge repair, or either; precision and recall against the corruption's manifest.

Reads each run's ``checkpoint_final.pth`` (``svl_state``: ``gate_flag_counts``, ``edge_fits``; ``svl_config``:
``edge_tolerance``) and the noisy dataset's ``noise_manifest.json``. Runs trained after 2026-12-01 also log these
figures per round (``found_*`` in ``svl_diagnostics.json``).

usage: python found_noisy.py WORKSPACE [TRAINER_SUBSTRING]     (default substring: EdgeRepair)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from nnunet_svl.edge.boundary import EdgeFit


def figures(found: set, noisy: set) -> str:
    tp = len(found & noisy)
    p = tp / len(found) if found else float("nan")
    r = tp / len(noisy) if noisy else float("nan")
    return f"{len(found):2d} found, precision {p:.2f}, recall {r:.2f}"


def main() -> None:
    ws = Path(sys.argv[1])
    key = sys.argv[2] if len(sys.argv) > 2 else "EdgeRepair"
    for ckpt_path in sorted(ws.glob(f"results_seed*/Dataset*/*{key}*/fold_*/checkpoint_final.pth")):
        run = ckpt_path.parent.parent
        dataset = run.parent.name
        manifest = ws / "raw" / dataset / "noise_manifest.json"
        if not manifest.is_file():
            continue
        cases = json.loads(manifest.read_text())["cases"]
        noisy = {c for c, v in cases.items() if v.get("noisy")}
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        state, cfg = ckpt["svl_state"], ckpt["svl_config"]
        flagged = set(state.get("gate_flag_counts", {}))
        moved = {c for c, f in state.get("edge_fits", {}).items() if EdgeFit(**f).moves(cfg["edge_tolerance"])}
        print(f"{dataset} {run.name.split('__')[0]} ({len(noisy)} noisy of {len(cases)}):")
        print(f"  teacher gate: {figures(flagged, noisy)}")
        print(f"  edge repair:  {figures(moved, noisy)}")
        print(f"  either:       {figures(flagged | moved, noisy)}")


if __name__ == "__main__":
    main()
