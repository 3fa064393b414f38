"""``nnunet-svl benchmark``: does the plugin help on this data, and what does it cost? One command, side by side.

corrupt (protocols × ratios × seeds) → ``nnUNetv2_plan_and_preprocess`` → train ``nnUNetTrainer`` on the clean labels
(upper bound) and every compared trainer on the same noisy labels with the same budget → stock ``nnUNetv2_predict`` →
evaluation on the clean test labels. Reports, per method: Dice, IoU, HD95, ASSD (mean ± sd over test cases), the
label-repair figure (Dice of the training labels the run ended with vs clean, minus noisy vs clean, over the noisy
cases), and the overhead ratios to ``nnUNetTrainer`` measured in the same run (median time per epoch, peak memory).

Presets: ``cpu`` (default) — the demo dataset, nnU-Net's plans with a 4× narrower network (``nnunet-svl
narrow-plans``) and the ``_bench`` budget (see ``trainers/budgets.py``), sized to finish in about an hour on 2 CPU
cores; ``full`` — nnU-Net's default plans and budget, for GPU machines. Every finished step is skipped when the command
is run again, so an interrupted benchmark resumes where it stopped.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from nnunet_svl.runtime.atomic_io import atomic_write_bytes, atomic_write_json
from nnunet_svl.tools.pipeline import NNUNetWorkspace, _bin

METHODS = ("nnUNetTrainer", "nnUNetTrainerDALE", "nnUNetTrainerVA3C", "nnUNetTrainerSVLDRL")
SOURCE_ID = 990
FIRST_NOISY_ID = 901


@dataclass
class Preset:
    name: str
    plans: str
    budget: Optional[str]          # trainer suffix; None = nnU-Net's default budget
    narrow: bool


PRESETS = {"cpu": Preset("cpu", "nnUNetPlans_narrow", "bench", True),
           "full": Preset("full", "nnUNetPlans", None, False),
           "smoke": Preset("smoke", "nnUNetPlans_narrow", "tiny", True)}  # checks the pipeline, numbers meaningless
# the demo dataset the cpu preset writes when no --source is given: 40³ keeps ~500 iterations per model in minutes
CPU_DEMO_SHAPE = (40, 40, 40)


def trainer_class_name(method: str, preset: Preset) -> str:
    if preset.budget is None:
        return method
    if method == "nnUNetTrainer":
        return f"nnUNetTrainerBaseline_{preset.budget}"
    return f"{method}_{preset.budget}"


@dataclass
class RunResult:
    dataset: str
    method: str
    trainer: str
    noise: str
    per_case: dict = field(default_factory=dict)
    """metric -> per test case value (mean over foreground classes)"""
    seconds_per_epoch: float = float("nan")
    peak_rss_mb: float = float("nan")
    cuda_peak_mb: Optional[float] = None
    repair: Optional[dict] = None
    curves: dict = field(default_factory=dict)


def _nanmean(values) -> float:
    vals = [float(v) for v in values if v is not None and np.isfinite(float(v))]
    return float(np.mean(vals)) if vals else float("nan")


def _progress(msg: str) -> None:
    print(f"[benchmark {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _epoch_seconds(checkpoint_path: Path) -> tuple[float, dict]:
    import torch

    ckpt = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    log = ckpt["logging"]
    starts, ends = log["epoch_start_timestamps"], log["epoch_end_timestamps"]
    durations = [e - s for s, e in zip(starts, ends)]
    curves = {}
    for key, values in log.items():
        if key in ("epoch_start_timestamps", "epoch_end_timestamps"):
            continue
        try:
            curves[key] = [float(v) for v in values]
        except (TypeError, ValueError):
            pass  # per-class lists
    # median: robust to an epoch that was slowed by something else on the machine
    return float(np.median(durations)) if durations else float("nan"), curves


def label_repair(ws: NNUNetWorkspace, noisy_dir: Path, run_dir: Path, plans: str, configuration: str) -> Optional[dict]:
    """Dice(final training label, clean) − Dice(noisy, clean), mean over noisy training cases of the fold."""
    from nnunet_svl.tools.audit import final_training_labels_original_geometry
    from nnunet_svl.tools.metrics import dice

    manifest = json.loads((noisy_dir / "noise_manifest.json").read_text())
    finals = final_training_labels_original_geometry(ws, noisy_dir.name, run_dir, plans, configuration)
    if finals is None:
        return None
    from nnunet_svl.tools.raw_dataset import load_raw_dataset, read_sitk

    raw = load_raw_dataset(noisy_dir)
    fg = [v for k, v in raw.labels.items() if k != "background" and isinstance(v, int)]
    before, after, untouched = [], [], []
    for case, final in finals.items():
        info = manifest["cases"].get(case, {})
        clean = read_sitk(noisy_dir / "labelsTr_clean" / f"{case}{raw.file_ending}")[0]
        noisy = read_sitk(raw.label_path(case))[0]
        for c in fg:
            if info.get("noisy"):
                before.append(dice(noisy == c, clean == c))
                after.append(dice(final == c, clean == c))
            else:
                untouched.append(dice(final == c, clean == c))
    if not before:
        return None
    return {"dice_noisy_vs_clean": float(np.mean(before)), "dice_final_vs_clean": float(np.mean(after)),
            "repair_points": 100.0 * float(np.mean(after) - np.mean(before)), "n_cases": len(before),
            # corrections must not damage the labels that were right: Dice(final, clean) on the clean cases
            "dice_final_vs_clean_on_clean_cases": float(np.mean(untouched)) if untouched else None}


def run_benchmark(workspace: Path, source: Optional[str] = None, protocols: Sequence[str] = ("mt", "dilate"),
                  ratios: Sequence[float] = (0.5,), seeds: Sequence[int] = (0,), methods: Sequence[str] = METHODS,
                  preset: str = "cpu", device: str = "cpu", configuration: str = "3d_fullres", fold: int = 0,
                  output: Optional[Path] = None) -> dict:
    from nnunet_svl.tools.corrupt import corrupt_dataset
    from nnunet_svl.tools.demo_data import write_demo_dataset
    from nnunet_svl.tools.evaluate import evaluate_folders
    from nnunet_svl.tools.plans import write_narrow_plans
    from nnunet_svl.tools.raw_dataset import find_dataset_folder

    p = PRESETS[preset]
    ws = NNUNetWorkspace.create(Path(workspace))
    out_dir = Path(output) if output else ws.root / "benchmark"
    out_dir.mkdir(parents=True, exist_ok=True)
    _progress(f"workspace {ws.root}, preset {preset}, logs in {ws.log_dir}")

    # 1. source dataset (clean labels)
    if source is None:
        src = next(iter(sorted(ws.raw.glob(f"Dataset{SOURCE_ID:03d}_*"))), None)
        if src is None:
            _progress("step 1: writing the demo dataset")
            src = write_demo_dataset(ws.raw, dataset_id=SOURCE_ID,
                                     **({} if preset == "full" else {"shape": CPU_DEMO_SHAPE}))
    else:
        src = find_dataset_folder(source, ws.raw if Path(ws.raw).exists() else None)
    src_id = int(src.name[len("Dataset"):].split("_")[0])

    # 2. noisy copies
    noisy: list[tuple[str, Path]] = []
    next_id = FIRST_NOISY_ID
    for protocol in protocols:
        for ratio in ratios:
            for seed in seeds:
                tag = f"{protocol}_r{ratio:g}_s{seed}"
                name = f"{src.name.split('_', 1)[1]}_{tag}".replace(".", "p")
                existing = sorted(ws.raw.glob(f"Dataset*_{name}"))
                if existing:
                    noisy.append((tag, existing[0]))
                    continue
                while any(ws.raw.glob(f"Dataset{next_id:03d}_*")):
                    next_id += 1
                _progress(f"step 2: corrupting {src.name} with {protocol}, rho={ratio}, seed={seed}")
                noisy.append((tag, corrupt_dataset(src, target_id=next_id, protocol=protocol, ratio=ratio,
                                                   seed=seed, raw_root=ws.raw, target_name=name)))

    # 3. plan and preprocess
    for ds in [src] + [d for _, d in noisy]:
        ds_id = int(ds.name[len("Dataset"):].split("_")[0])
        pre = ws.preprocessed / ds.name
        if not (pre / "nnUNetPlans.json").is_file() or not any(pre.glob(f"nnUNetPlans_{configuration}*")):
            _progress(f"step 3: nnUNetv2_plan_and_preprocess -d {ds_id} -c {configuration}")
            ws.plan_and_preprocess(ds_id, configurations=(configuration,))
        if p.narrow:
            write_narrow_plans(ws.preprocessed, ds_id, target_plans=p.plans)

    # 4-6. train, predict, evaluate
    jobs = [("clean", src, "nnUNetTrainer")] + [(tag, d, m) for tag, d in noisy for m in methods]
    results: list[RunResult] = []
    for i, (noise, ds, method) in enumerate(jobs, 1):
        ds_id = int(ds.name[len("Dataset"):].split("_")[0])
        trainer = trainer_class_name(method, p)
        run_dir = ws.run_folder(ds.name, trainer, configuration, p.plans)
        fold_dir = run_dir / f"fold_{fold}"
        label = f"[{i}/{len(jobs)}] {method} on {noise}"
        measure_file = fold_dir / "svl_measure.json"
        if not (fold_dir / "checkpoint_final.pth").is_file() or not measure_file.is_file():
            _progress(f"{label}: training {trainer} (log: {ws.log_dir}/train_{ds_id}_{trainer}.log)")
            resume = (fold_dir / "checkpoint_latest.pth").is_file()
            tmp_measure = ws.log_dir / f"measure_{ds_id}_{trainer}.json"
            argv = [sys.executable, "-m", "nnunet_svl.tools.measure", str(tmp_measure), "nnUNetv2_train", str(ds_id),
                    configuration, str(fold), "-tr", trainer, "-p", p.plans, "-device", device]
            if resume:
                argv.append("--c")
            ws.run(f"train_{ds_id}_{trainer}", argv, extra_env={"nnUNet_n_proc_DA": ws.env.get("nnUNet_n_proc_DA",
                                                                                                   "0")})
            fold_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(measure_file, tmp_measure.read_bytes())
        pred_dir = ws.root / "benchmark_predictions" / ds.name / trainer
        if not (pred_dir / "svl_evaluation.json").is_file():
            _progress(f"{label}: predicting the test images (stock nnUNetv2_predict)")
            ws.predict(ds_id, trainer, ds / "imagesTs", pred_dir, configuration=configuration, folds=(fold,),
                       plans=p.plans, device=device, name=f"predict_{ds_id}_{trainer}")
            from nnunet_svl.tools.evaluate import write_results_json

            write_results_json(evaluate_folders(pred_dir, ds / "labelsTs", dataset_json=ds / "dataset.json"),
                               pred_dir / "svl_evaluation.json")
        evaluation = json.loads((pred_dir / "svl_evaluation.json").read_text())
        measure = json.loads(measure_file.read_text())
        spe, curves = _epoch_seconds(fold_dir / "checkpoint_final.pth")
        per_case = {metric: [_nanmean([m[metric] for m in c.values()]) for c in evaluation["per_case"].values()]
                    for metric in ("dice", "iou", "hd95", "assd")}
        r = RunResult(dataset=ds.name, method=method, trainer=trainer, noise=noise, per_case=per_case,
                      seconds_per_epoch=spe, peak_rss_mb=measure["peak_rss_mb"],
                      cuda_peak_mb=measure.get("cuda_peak_allocated_mb"), curves=curves)
        if noise != "clean":
            r.repair = label_repair(ws, ds, run_dir, p.plans, configuration) if method != "nnUNetTrainer" else \
                {"repair_points": 0.0}
        results.append(r)
        _progress(f"{label}: mean Dice {np.mean(r.per_case['dice']):.4f}, {spe:.1f} s/epoch")

    from nnunet_svl.tools.benchmark_report import write_report

    report = write_report(results, out_dir, preset=p, command=" ".join(sys.argv))
    _progress(f"done: {out_dir / 'benchmark.md'}")
    return report
