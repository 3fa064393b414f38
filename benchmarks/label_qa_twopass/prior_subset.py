"""#16 attribution (fourteenth session): is the two-pass trainer's loss on mt rho 0.5 seed 0 its *earlier* flags or its
*extra* flags? The two-pass prior flags 9 cases from iteration 0 (the 6 eroded cases the one-pass default's own gate
flags from epoch 1, plus 3 over-drawn ones it never flags). This trains `nnUNetTrainerSVLDRL_LabelQA` with a prior of a
given subset only (a label-qa summary written by hand, passed with NNUNET_SVL_CONFIG's ``label_qa``), on the same
labels, training seeds and test set as the benchmark's runs (trajectory 0 and 1), then predicts and evaluates the
test images as the benchmark does.

    python benchmarks/label_qa_twopass/prior_subset.py WS SEED DATASET NAME CASE [CASE ...]

Results: WS/results_prior_<NAME>_s<SEED>{,_t1}/ and WS/benchmark_predictions/prior_<NAME>_s<SEED>{,_t1}/.
Compare with benchmarks/label_qa_twopass/trajectories.py's rows of the same dataset.
"""
import sys
from pathlib import Path

import numpy as np

from nnunet_svl.runtime.atomic_io import atomic_write_json
from nnunet_svl.tools.benchmark import (PRESETS, TRAJECTORY_SEED_STEP, _dataset_id, _train_and_predict,
                                        seed_workspace)
from nnunet_svl.tools.evaluate import case_means
from nnunet_svl.tools.pipeline import NNUNetWorkspace

ws_root, seed, name, tag, cases = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
p = PRESETS["cpu"]
ws = NNUNetWorkspace.create(ws_root)
ds = ws.raw / name
qa = ws_root / f"prior_{tag}_{name}"
qa.mkdir(exist_ok=True)
atomic_write_json(qa / "summary.json", {"dataset": name, "flagged": sorted(cases),
                                        "note": "written by hand (prior_subset.py), not a label-qa output"})
atomic_write_json(qa / "config.json", {"label_qa": str(qa)})
trainer = "nnUNetTrainerSVLDRL_LabelQA_bench"
for traj in (0, 1):
    suffix = f"_t{traj}" if traj else ""
    sws = seed_workspace(ws, seed, traj)
    results = ws_root / f"results_prior_{tag}_s{seed}{suffix}"
    results.mkdir(exist_ok=True)
    sws.env.update({"nnUNet_results": str(results), "NNUNET_SVL_CONFIG": str(qa / "config.json")})
    assert sws.env["NNUNET_SVL_TRAIN_SEED"] == str(seed + TRAJECTORY_SEED_STEP * traj)
    fold_dir = sws.run_folder(name, trainer, p.configuration, p.plans) / f"fold_{p.fold}"
    pred_dir = ws.root / "benchmark_predictions" / f"prior_{tag}_s{seed}{suffix}" / name / trainer
    _train_and_predict(sws, ws, p, ds, _dataset_id(ds), trainer, p.configuration, p.fold, "cpu", fold_dir, pred_dir,
                       f"{_dataset_id(ds)}_prior_{tag}_s{seed}{suffix}", f"prior {tag} ({len(cases)} cases) t{traj}")
    mean = np.mean(list(case_means(pred_dir / "svl_evaluation.json").values()))
    print(f"prior {tag} {sorted(cases)} on {name}, seed {seed} t{traj}: mean Dice {mean:.4f}", flush=True)
