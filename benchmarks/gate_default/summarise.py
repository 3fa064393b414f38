"""Write results.json in the shape `nnunet-svl benchmark` writes ({"settings": {...}}), from the per-case evaluations
in evals/, so that ../../shared/tools/targets (and readers) see these runs beside the benchmark's own.
Usage: python summarise.py  (rows: the default nnUNetTrainerSVLDRL_bench and the stock baseline, seed 0)."""
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
# setting -> {method: tag}; the SVLDRL rows are runs of today's default trainer (g005_half_mt = its config) or runs
# in which nothing was flagged (then any gate setting trains exactly as nnUNetTrainer)
SETTINGS = {
    "mt_r0.5_s0": {"nnUNetTrainer": "base_mt", "nnUNetTrainerSVLDRL": "g005_half_mt",
                   "nnUNetTrainerSVLDRL_ExcludeFlagged": "g005_excl_mt"},
    "markov_r0.5_s0": {"nnUNetTrainer": "base_markov", "nnUNetTrainerSVLDRL": "gated_markov"},
}


def dice(tag):
    d = json.loads((HERE / "evals" / f"{tag}.json").read_text())["per_case"]
    v = [float(np.mean([m["dice"] for m in c.values()])) for c in d.values()]
    return [float(np.mean(v)), float(np.std(v)), len(v)], v


out = {"source": "benchmarks/gate_default (run.sh, regime datasets, training seed 0)", "settings": {}}
for setting, rows in SETTINGS.items():
    out["settings"][setting] = []
    for method, tag in rows.items():
        summary, per_case = dice(tag)
        out["settings"][setting].append({"method": method, "run": tag, "dice": summary, "dice_per_case": per_case})
(HERE / "results.json").write_text(json.dumps(out, indent=1))
print(json.dumps({k: {r["method"]: round(r["dice"][0], 4) for r in v} for k, v in out["settings"].items()}))
