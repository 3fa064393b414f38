"""Label rounds' share of a default 1000-epoch nnU-Net run at 200 cases of 128³ (issue "overhead", item 4), from
times measured on this machine with nnU-Net's own default 3d_fullres network for that dataset.

What a label round costs at that scale is (a) the label store's I/O, measured by ``nnunet-svl scale-check`` (the
blosc2 store: ``scale_new_store.json``), and (b) one teacher forward pass per sliding-window tile of every training
case (``nnunet_svl.trainers.case_inference.sliding_window_maps_many`` with ``round_tile_batch`` tiles per call, the
code the trainers run). An epoch of nnU-Net is 250 training iterations. This script

1. plans a synthetic dataset of 200 cases of 128³ at 1 mm with nnU-Net's ``ExperimentPlanner`` (a dataset
   fingerprint written by hand; the planner needs no image data) — nnU-Net's patch, batch size and network;
2. times (CPU seconds of this process, robust to other work on the machine; wall seconds reported too) training
   iterations of that network (deep supervision, nnU-Net's Dice + CE loss, SGD with Nesterov as in
   ``nnUNetTrainer``) and the round's inference of one whole 128³ case, interleaved so that the machine's load hits
   both alike;
3. projects: rounds per run (``correction_every`` 0.1 → every 100 epochs, 10 rounds) × (200 × seconds per case +
   store I/O per round) against 1000 × 250 × seconds per iteration.

usage: python round_share_default_net.py OUT.json [SCALE_CHECK.json] [REPEATS]
The ratio of inference to training time is what carries over to other machines (a GPU shrinks both).
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

N_CASES, SHAPE, EPOCHS, ITERS_PER_EPOCH = 200, (128, 128, 128), 1000, 250


def plan_default(tmp: Path) -> dict:
    raw, pre = tmp / "raw", tmp / "preprocessed"
    name = "Dataset999_ScaleCheck"
    (raw / name / "imagesTr").mkdir(parents=True)
    (raw / name / "labelsTr").mkdir(parents=True)
    import SimpleITK as sitk

    tiny = raw / "tiny.nii.gz"   # the planner only lists the files and picks a reader (the fingerprint carries the
    sitk.WriteImage(sitk.Image([4, 4, 4], sitk.sitkUInt8), str(tiny))   # geometry): one tiny image, linked 400 times
    for i in range(N_CASES):
        os.link(tiny, raw / name / "imagesTr" / f"c_{i:03d}_0000.nii.gz")
        os.link(tiny, raw / name / "labelsTr" / f"c_{i:03d}.nii.gz")
    (raw / name / "dataset.json").write_text(json.dumps({
        "channel_names": {"0": "MRI"}, "labels": {"background": 0, "lesion": 1}, "numTraining": N_CASES,
        "file_ending": ".nii.gz"}))
    (pre / name).mkdir(parents=True)
    (pre / name / "dataset_fingerprint.json").write_text(json.dumps({
        "foreground_intensity_properties_per_channel": {"0": {
            "max": 1000.0, "mean": 100.0, "median": 100.0, "min": 0.0, "percentile_00_5": 10.0,
            "percentile_99_5": 300.0, "std": 50.0}},
        "median_relative_size_after_cropping": 1.0,
        "shapes_after_crop": [list(SHAPE)] * N_CASES, "spacings": [[1.0, 1.0, 1.0]] * N_CASES}))
    os.environ.update(nnUNet_raw=str(raw), nnUNet_preprocessed=str(pre), nnUNet_results=str(tmp / "results"))
    from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner

    ExperimentPlanner(name).plan_experiment()
    return json.loads((pre / name / "nnUNetPlans.json").read_text())


def main() -> None:
    out = Path(sys.argv[1])
    scale = json.loads(Path(sys.argv[2]).read_text()) if len(sys.argv) > 2 else None
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    with tempfile.TemporaryDirectory() as d:
        plan_default(Path(d))
        from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

        pm = PlansManager(Path(d) / "preprocessed" / "Dataset999_ScaleCheck" / "nnUNetPlans.json")
    cm = pm.get_configuration("3d_fullres")
    from nnunetv2.training.loss.compound_losses import DC_and_CE_loss
    from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
    from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

    from nnunet_svl.runtime.config import SVLConfig, epoch_period
    from nnunet_svl.trainers.case_inference import sliding_window_maps_many
    from nnunetv2.inference.sliding_window_prediction import compute_steps_for_sliding_window

    patch, batch = tuple(cm.patch_size), cm.batch_size
    net = get_network_from_plans(cm.network_arch_class_name, cm.network_arch_init_kwargs,
                                 cm.network_arch_init_kwargs_req_import, 1, 2, allow_init=True,
                                 deep_supervision=True)
    pools = cm.pool_op_kernel_sizes
    scales = list(list(i) for i in 1 / np.cumprod(np.vstack(pools), axis=0))[:-1]
    weights = np.array([1 / (2 ** i) for i in range(len(scales))])
    weights[-1] = 0
    loss = DeepSupervisionWrapper(DC_and_CE_loss({"batch_dice": cm.batch_dice, "smooth": 1e-5, "do_bg": False,
                                                  "ddp": False}, {}, weight_ce=1, weight_dice=1,
                                                 dice_class=MemoryEfficientSoftDiceLoss), weights / weights.sum())
    opt = torch.optim.SGD(net.parameters(), 1e-2, weight_decay=3e-5, momentum=0.99, nesterov=True)
    x = torch.randn(batch, 1, *patch)
    target = (torch.rand(batch, 1, *patch) > 0.9).float()
    targets = [torch.nn.functional.interpolate(target, scale_factor=s, mode="nearest") for s in scales]
    case = np.random.default_rng(0).standard_normal((1, *SHAPE)).astype(np.float32)
    tile_batch = SVLConfig().round_tile_batch

    def train_iteration() -> tuple[float, float]:
        net.train()
        t, c = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        outputs = net(x)
        loss(outputs, targets).backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 12)
        opt.step()
        return time.perf_counter() - t, time.process_time() - c

    def round_case() -> tuple[float, float]:
        net.eval()
        net.decoder.deep_supervision = False

        def patch_fn(p):
            return {"probs": torch.softmax(net(p), 1)}
        t, c = time.perf_counter(), time.process_time()
        sliding_window_maps_many([case], patch, patch_fn, torch.device("cpu"), tile_batch=tile_batch)
        net.decoder.deep_supervision = True
        return time.perf_counter() - t, time.process_time() - c

    train_iteration()     # warm-up
    round_case()
    iters, cases = [], []
    for r in range(repeats):
        iters.append(train_iteration())
        cases.append(round_case())
        print(f"repeat {r}: iteration {iters[-1][0]:.2f} s wall / {iters[-1][1]:.2f} s CPU, one case's round "
              f"inference {cases[-1][0]:.2f} s wall / {cases[-1][1]:.2f} s CPU", flush=True)
    # CPU seconds (all threads of this process): what the ratio rests on when other work shares the machine
    t_iter, t_case = float(np.median([c for _, c in iters])), float(np.median([c for _, c in cases]))
    period = epoch_period(SVLConfig().correction_every, EPOCHS)
    rounds = sum(1 for e in range(EPOCHS) if (e + 1) % period == 0)
    # the scale check's slowest round, scaled to N_CASES (its I/O is per case)
    io = max(r["seconds"] for r in scale["per_round"]) * N_CASES / scale["n_cases"] if scale else 0.0
    round_s = N_CASES * t_case + io
    train_s = EPOCHS * ITERS_PER_EPOCH * t_iter
    tiles = int(np.prod([len(s) for s in compute_steps_for_sliding_window(SHAPE, patch, 0.5)]))
    result = {
        "dataset": f"{N_CASES} cases of {SHAPE} at 1 mm, planned by nnU-Net's ExperimentPlanner",
        "patch_size": list(patch), "batch_size": batch, "tiles_per_case": tiles, "round_tile_batch": tile_batch,
        "threads": torch.get_num_threads(), "repeats": repeats,
        "wall_seconds_per_iteration": [round(w, 2) for w, _ in iters],
        "cpu_seconds_per_iteration": [round(c, 2) for _, c in iters],
        "wall_seconds_per_case_round_inference": [round(w, 2) for w, _ in cases],
        "cpu_seconds_per_case_round_inference": [round(c, 2) for _, c in cases],
        "inference_per_case_over_iteration": round(t_case / t_iter, 3),
        "store_io_seconds_per_round": round(io, 1), "rounds_per_run": rounds, "round_every_epochs": period,
        # CPU seconds here (the store I/O: the scale check's wall seconds)
        "seconds_per_round": round(round_s, 1), "seconds_per_epoch": round(ITERS_PER_EPOCH * t_iter, 1),
        "round_share_of_run": round(rounds * round_s / (rounds * round_s + train_s), 4),
        "round_share_inference_only": round(rounds * N_CASES * t_case / (rounds * N_CASES * t_case + train_s), 4),
    }
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
