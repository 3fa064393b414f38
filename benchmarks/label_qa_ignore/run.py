"""#16 the two-pass workflow with nnU-Net's own ignore label: 5 folds of nnUNetTrainer (--npz) -> `nnunet-svl label-qa
--ignore-dataset-id N` -> train on the NEW dataset whose label-issue voxels in flagged cases carry the ignore label.

The flagged cases stay in the batches (the method trainer's prior removes them); only their voxels that the held-out
predictions confidently contradict stop teaching. Unflagged cases are unchanged.

    python benchmarks/label_qa_ignore/run.py WS SEED DATASET_NAME IGNORE_ID [METHOD ...]

WS: a cpu-preset benchmark workspace where `run_s11.sh` already ran for DATASET_NAME and SEED (its label_qa folder and
the benchmark's predictions of the same noisy dataset are read). METHOD: benchmark method names (default
nnUNetTrainer). Prints each method's mean test Dice on the ignore dataset and its paired difference (t interval over
the test cases) against the runs on the noisy dataset itself: nnUNetTrainer, the one-pass nnUNetTrainerSVLDRL and the
two-pass (prior) nnUNetTrainerSVLDRL_LabelQA, where the workspace has them. Writes WS/report_ignore_<dataset>.json.
"""
import json
import sys
from pathlib import Path

import numpy as np

from nnunet_svl.runtime.jsonio import read_json
from nnunet_svl.tools.benchmark import (PRESETS, _dataset_id, _train_and_predict, plan_dataset,
                                        seed_workspace, trainer_class_name)
from nnunet_svl.tools.evaluate import case_means
from nnunet_svl.tools.label_qa import write_ignore_dataset
from nnunet_svl.tools.pipeline import NNUNetWorkspace
from nnunet_svl.tools.raw_dataset import load_raw_dataset
from nnunet_svl.tools.stats import t_interval

ws_root, seed, name, ignore_id = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
methods = sys.argv[5:] or ["nnUNetTrainer"]
p = PRESETS["cpu"]
ws = NNUNetWorkspace.create(ws_root)
sws = seed_workspace(ws, seed)
noisy = ws.raw / name
qa_dir = sws.run_folder(name, "nnUNetTrainerBaseline_bench", p.configuration, p.plans) / "label_qa"
flagged = read_json(qa_dir / "summary.json")["flagged"]

existing = sorted(ws.raw.glob(f"Dataset{ignore_id:03d}_*"))
ds = existing[0] if existing else write_ignore_dataset(load_raw_dataset(noisy), qa_dir, flagged, ignore_id,
                                                       link_images=True)
assert read_json(ds / "dataset.json")["svl_label_qa"]["source"] == name, f"{ds} is not {name}'s ignore dataset"
plan_dataset(ws, p, ds, p.configuration)


def test_dice(pred_dir: Path) -> dict:
    return case_means(pred_dir / "svl_evaluation.json")


report = {"dataset": name, "seed": seed, "ignore_dataset": ds.name, "flagged": flagged, "runs": {}}
refs = {m: ws.root / "benchmark_predictions" / f"seed{seed}" / name / trainer_class_name(m, p)
        for m in ("nnUNetTrainer", "nnUNetTrainerSVLDRL", "nnUNetTrainerSVLDRL_LabelQA")}
for method in methods:
    trainer = trainer_class_name(method, p)
    fold_dir = sws.run_folder(ds.name, trainer, p.configuration, p.plans) / f"fold_{p.fold}"
    pred_dir = ws.root / "benchmark_predictions" / f"seed{seed}" / ds.name / trainer
    step = f"{ignore_id}_{trainer}_s{seed}"
    _train_and_predict(sws, ws, p, ds, _dataset_id(ds), trainer, p.configuration, p.fold, "cpu", fold_dir, pred_dir,
                       step, f"{method} on {ds.name}")
    dice = test_dice(pred_dir)
    row = {"mean_dice": float(np.mean(list(dice.values()))), "minus": {}}
    for ref, ref_dir in refs.items():
        if not (ref_dir / "svl_evaluation.json").is_file():
            continue
        base = test_dice(ref_dir)
        diffs = np.array([dice[c] - base[c] for c in sorted(base)]) * 100
        mean, low, high, n = t_interval(diffs)
        row["minus"][ref] = {"ref_mean_dice": float(np.mean(list(base.values()))), "points": mean, "low": low,
                             "high": high, "n_cases": n}
        print(f"{method} on {ds.name} (seed {seed}) - {ref} on {name}: {mean:+.2f} [{low:+.2f}, {high:+.2f}] "
              f"(means {row['mean_dice']:.4f} vs {row['minus'][ref]['ref_mean_dice']:.4f}, {n} test cases)",
              flush=True)
    report["runs"][method] = row
(ws.root / f"report_ignore_{name}.json").write_text(json.dumps(report, indent=1))
