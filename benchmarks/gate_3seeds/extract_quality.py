"""Per run of the benchmark workspace: the teacher gate's flags and the corrections' quality, from the diagnostics
nnU-Net's logger holds in checkpoint_final.pth (keys q_*: flag precision / recall, case-score AUROC, flip precision,
Dice of the labels in force vs clean), last label round and mean over rounds.

usage: python extract_quality.py WORKSPACE > quality.json"""
import glob
import json
import math
import sys

import torch

KEYS = ("q_flag_precision", "q_flag_recall", "q_case_auroc", "q_flip_precision_noisy", "q_flip_precision_clean",
        "q_dice_in_force_noisy", "q_dice_in_force_clean", "q_net_fixed_noisy", "q_net_fixed_clean", "round_flipped")
out = {}
for ck in sorted(glob.glob(f"{sys.argv[1]}/results_seed*/Dataset*/nnUNetTrainerSVLDRL_bench__*/fold_all/checkpoint_final.pth")):
    parts = ck.split("/")
    seed, ds = parts[-5].replace("results_", ""), parts[-4]
    log = torch.load(ck, map_location="cpu", weights_only=False)["logging"]
    row = {}
    for k in KEYS:
        vals = [v for v in log.get(k, []) if v is not None and not (isinstance(v, float) and math.isnan(v))]
        row[k] = {"last": vals[-1] if vals else None, "mean": sum(vals) / len(vals) if vals else None, "n": len(vals)}
    out[f"{ds}/{seed}"] = row
json.dump(out, sys.stdout, indent=1)
