"""``nnunet-svl demo``: the whole user journey on the synthetic demo dataset, in a local workspace, on CPU.

create → corrupt (``mt``, ρ = 0.5) → ``nnUNetv2_plan_and_preprocess`` → narrow-network plans → ``nnUNetv2_train`` with the
plugin's trainer (a short budget) → stock ``nnUNetv2_predict`` → evaluation against the clean test labels.
Each step that already finished in the workspace is skipped, so an interrupted demo can be run again.
"""
from __future__ import annotations

from typing import Optional

import json
import shutil
from pathlib import Path

from nnunet_svl.tools.pipeline import NNUNetWorkspace

DEMO_SOURCE_ID = 990
DEMO_NOISY_ID = 991
DEMO_PLANS = "nnUNetPlans_narrow"


def comparison_line(trainer: str, result: dict, baseline: str, baseline_result: dict) -> str:
    """One line: both mean Dice values on the clean test labels and the difference in Dice points."""
    a, b = mean_dice(result), mean_dice(baseline_result)
    return (f"[demo] mean Dice on the clean test labels, same noisy training labels and budget: {trainer} {a:.4f}, "
            f"{baseline} {b:.4f} ({100 * (a - b):+.1f} points)")


def mean_dice(result: dict) -> float:
    """Mean over test cases of the mean Dice over foreground classes (evaluate_folders' per_case)."""
    import numpy as np

    return float(np.mean([np.nanmean([m["dice"] for m in case.values()]) for case in result["per_case"].values()]))


def run_demo(workspace: Path, trainer: str = "nnUNetTrainerSVLDRL_demo", protocol: str = "mt", ratio: float = 0.5,
             seed: int = 0, device: str = "cpu", fresh: bool = False, verbose: bool = False,
             compare: bool = False, dataset_size: Optional[dict] = None) -> int:
    """``verbose``: nnU-Net's own output on the console instead of live progress lines (it always goes to the logs
    when not verbose). ``compare``: also train stock ``nnUNetTrainer`` with the same budget on the same noisy labels
    and print both results side by side (the figure that says whether the method helped); both trainings get the
    training seed ``seed`` (``NNUNET_SVL_TRAIN_SEED``, read by the plugin's trainers and budget baselines), so the
    comparison is paired: the same initialisation, data order and augmentation until the method changes something
    (stock ``nnUNetTrainer``, the baseline of an unbudgeted trainer, does not read it). ``dataset_size``: keyword
    arguments of ``write_demo_dataset`` (n_train, n_test, shape; tests use a smaller dataset)."""
    from nnunet_svl.tools.corrupt import corrupt_dataset
    from nnunet_svl.tools.demo_data import write_demo_dataset
    from nnunet_svl.tools.evaluate import evaluate_folders, format_table, write_results_json
    from nnunet_svl.tools.plans import write_narrow_plans
    from nnunet_svl.tools.benchmark import TRAIN_SEED_ENV
    from nnunet_svl.trainers.budgets import budget_epochs

    workspace = Path(workspace)
    if fresh and workspace.exists():
        shutil.rmtree(workspace)
    ws = NNUNetWorkspace.create(workspace, quiet=not verbose)
    print(f"[demo] workspace {ws.root} (logs in {ws.log_dir})")

    def step(msg: str) -> None:
        print(f"[demo] {msg}", flush=True)

    src = next(iter(sorted(ws.raw.glob(f"Dataset{DEMO_SOURCE_ID:03d}_*"))), None)
    if src is None:
        step("1/6 writing the synthetic demo dataset")
        src = write_demo_dataset(ws.raw, dataset_id=DEMO_SOURCE_ID, seed=seed, **(dataset_size or {}))
    noisy = next(iter(sorted(ws.raw.glob(f"Dataset{DEMO_NOISY_ID:03d}_*"))), None)
    if noisy is None:
        step(f"2/6 corrupting its training labels ({protocol}, rho={ratio})")
        noisy = corrupt_dataset(src, target_id=DEMO_NOISY_ID, protocol=protocol, ratio=ratio, seed=seed,
                                raw_root=ws.raw)
    manifest = json.loads((noisy / "noise_manifest.json").read_text())

    pre = ws.preprocessed / noisy.name
    if not (pre / "nnUNetPlans.json").is_file() or not (pre / "nnUNetPlans_3d_fullres").is_dir():
        step("3/6 nnUNetv2_plan_and_preprocess")
        # without --verify_dataset_integrity: the demo wrote this dataset itself and `corrupt` checked it (nnU-Net's
        # check is for the datasets users convert, README step 2); it costs ~20 s of worker start-up
        ws.plan_and_preprocess(DEMO_NOISY_ID, verify=False)
    write_narrow_plans(ws.preprocessed, DEMO_NOISY_ID, target_plans=DEMO_PLANS)

    trainers = [trainer]
    if compare:
        budget = trainer.rsplit("_", 1)[-1] if budget_epochs(trainer) else None
        trainers.append(f"nnUNetTrainerBaseline_{budget}" if budget else "nnUNetTrainer")
    results = {}
    for t in trainers:
        log_name = "train" if t == trainer else f"train_{t}"
        run_dir = ws.run_folder(noisy.name, t, plans=DEMO_PLANS)
        if not (run_dir / "fold_0" / "checkpoint_final.pth").is_file():
            step(f"4/6 nnUNetv2_train {DEMO_NOISY_ID} 3d_fullres 0 -tr {t} -p {DEMO_PLANS} -device {device} "
                 f"(log: {ws.log_dir}/{log_name}.log)")
            ws.train(DEMO_NOISY_ID, t, plans=DEMO_PLANS, device=device, name=log_name,
                     resume=(run_dir / "fold_0" / "checkpoint_latest.pth").is_file(),
                     progress_epochs=budget_epochs(t), extra_env={TRAIN_SEED_ENV: str(seed)})
        pred = ws.root / "predictions" / t
        step(f"5/6 stock nnUNetv2_predict on the test images ({t})")
        ws.predict(DEMO_NOISY_ID, t, noisy / "imagesTs", pred, plans=DEMO_PLANS, device=device,
                   name="predict" if t == trainer else f"predict_{t}")
        step(f"6/6 evaluating {t} against the clean test labels")
        results[t] = evaluate_folders(pred, noisy / "labelsTs", dataset_json=noisy / "dataset.json")
    result = results[trainer]
    run_dir = ws.run_folder(noisy.name, trainer, plans=DEMO_PLANS)
    write_results_json(result, ws.root / "demo_evaluation.json")
    print(format_table(result))
    if compare:
        base = trainers[1]
        write_results_json(results[base], ws.root / f"demo_evaluation_{base}.json")
        print(format_table(results[base]))
        print(comparison_line(trainer, result, base, results[base]))
    else:
        step("these figures alone do not say whether the method helped: `nnunet-svl demo --compare` also trains "
             "stock nnUNetTrainer on the same noisy labels and prints the difference")
    noisy_dice = [c for c in manifest.get("cases", {}).values() if c.get("noisy")]
    if noisy_dice:
        step(f"{len(noisy_dice)} of {len(manifest['cases'])} training labels were corrupted "
             f"(see {noisy / 'noise_manifest.json'})")
    step(f"results: {ws.root / 'demo_evaluation.json'}; training run: {run_dir}")
    return 0
