"""``nnunet-svl demo``: the whole user journey on the synthetic demo dataset, in a local workspace, on CPU.

create → corrupt (``mt``, ρ = 0.5) → ``nnUNetv2_plan_and_preprocess`` → narrow-network plans → ``nnUNetv2_train`` with the
plugin's trainer (a short budget) → stock ``nnUNetv2_predict`` → evaluation against the clean test labels.
Each step that already finished in the workspace is skipped, so an interrupted demo can be run again.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from nnunet_svl.tools.pipeline import NNUNetWorkspace

DEMO_SOURCE_ID = 990
DEMO_NOISY_ID = 991
DEMO_PLANS = "nnUNetPlans_narrow"


def run_demo(workspace: Path, trainer: str = "nnUNetTrainerSVLDRL_demo", protocol: str = "mt", ratio: float = 0.5,
             seed: int = 0, device: str = "cpu", fresh: bool = False) -> int:
    from nnunet_svl.tools.corrupt import corrupt_dataset
    from nnunet_svl.tools.demo_data import write_demo_dataset
    from nnunet_svl.tools.evaluate import evaluate_folders, format_table, write_results_json
    from nnunet_svl.tools.plans import write_narrow_plans

    workspace = Path(workspace)
    if fresh and workspace.exists():
        shutil.rmtree(workspace)
    ws = NNUNetWorkspace.create(workspace)
    print(f"[demo] workspace {ws.root} (logs in {ws.log_dir})")

    def step(msg: str) -> None:
        print(f"[demo] {msg}", flush=True)

    src = next(iter(sorted(ws.raw.glob(f"Dataset{DEMO_SOURCE_ID:03d}_*"))), None)
    if src is None:
        step("1/6 writing the synthetic demo dataset")
        src = write_demo_dataset(ws.raw, dataset_id=DEMO_SOURCE_ID, seed=seed)
    noisy = next(iter(sorted(ws.raw.glob(f"Dataset{DEMO_NOISY_ID:03d}_*"))), None)
    if noisy is None:
        step(f"2/6 corrupting its training labels ({protocol}, rho={ratio})")
        noisy = corrupt_dataset(src, target_id=DEMO_NOISY_ID, protocol=protocol, ratio=ratio, seed=seed,
                                raw_root=ws.raw)
    manifest = json.loads((noisy / "noise_manifest.json").read_text())

    pre = ws.preprocessed / noisy.name
    if not (pre / "nnUNetPlans.json").is_file() or not (pre / "nnUNetPlans_3d_fullres").is_dir():
        step("3/6 nnUNetv2_plan_and_preprocess")
        ws.plan_and_preprocess(DEMO_NOISY_ID)
    write_narrow_plans(ws.preprocessed, DEMO_NOISY_ID, target_plans=DEMO_PLANS)

    run_dir = ws.run_folder(noisy.name, trainer, plans=DEMO_PLANS)
    if not (run_dir / "fold_0" / "checkpoint_final.pth").is_file():
        step(f"4/6 nnUNetv2_train {DEMO_NOISY_ID} 3d_fullres 0 -tr {trainer} -p {DEMO_PLANS} -device {device} "
             f"(log: {ws.log_dir}/train.log)")
        ws.train(DEMO_NOISY_ID, trainer, plans=DEMO_PLANS, device=device, name="train",
                 resume=(run_dir / "fold_0" / "checkpoint_latest.pth").is_file())

    pred = ws.root / "predictions" / trainer
    step("5/6 stock nnUNetv2_predict on the test images")
    ws.predict(DEMO_NOISY_ID, trainer, noisy / "imagesTs", pred, plans=DEMO_PLANS, device=device, name="predict")

    step("6/6 evaluating against the clean test labels")
    result = evaluate_folders(pred, noisy / "labelsTs", dataset_json=noisy / "dataset.json")
    write_results_json(result, ws.root / "demo_evaluation.json")
    print(format_table(result))
    noisy_dice = [c for c in manifest.get("cases", {}).values() if c.get("noisy")]
    if noisy_dice:
        step(f"{len(noisy_dice)} of {len(manifest['cases'])} training labels were corrupted "
             f"(see {noisy / 'noise_manifest.json'})")
    step(f"results: {ws.root / 'demo_evaluation.json'}; training run: {run_dir}")
    return 0
