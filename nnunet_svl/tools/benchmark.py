"""``nnunet-svl benchmark``: does the plugin help on this data, and what does it cost? One command, side by side.

corrupt (protocols × ratios × seeds) → ``nnUNetv2_plan_and_preprocess`` → train ``nnUNetTrainer`` on the clean labels
(upper bound) and every compared trainer on the same noisy labels with the same budget → stock ``nnUNetv2_predict`` →
evaluation on the clean test labels. Reports, per method: Dice, IoU, HD95, ASSD (mean ± sd over test cases), the
label-repair figure (Dice of the training labels the run ended with vs clean, minus noisy vs clean, over the noisy
cases), and the overhead ratios to ``nnUNetTrainer`` measured in the same run (median time per epoch, peak memory).

Seeds: ``--seeds S1 S2 ...`` varies the noise (the corruption seed) and the training seed together: every
``nnUNetv2_train`` of seed S runs with ``NNUNET_SVL_TRAIN_SEED=S``, and every training of seed S writes to its own
``nnUNet_results`` root, ``WORKSPACE/results_seed<S>/`` (predictions under ``benchmark_predictions/seed<S>/``), so the
clean source dataset, trained once per seed, never shares a run folder between seeds. For every seed every method is
also trained on the clean labels (the no-harm check; ``clean_methods=False`` / ``--no-clean-methods``: only
``nnUNetTrainer``). Settings are keyed ``<protocol>_r<ratio>_s<seed>`` and ``clean_s<seed>``; the report pools the
seeds of one group (``<protocol>_r<ratio>`` or ``clean``) and states each method's paired difference to
``nnUNetTrainer`` with 95 % intervals (:mod:`nnunet_svl.tools.stats`).

Trajectories (``--baseline-trajectories K``, [ours]): at this scale a trained network depends on its training
trajectory by several Dice points, and a method that changes even one batch leaves ``nnUNetTrainer``'s trajectory for
another one, which the paired intervals over test cases do not see (BENCHMARKS.md, "noise floor"). With K > 1
``nnUNetTrainer`` is also trained K − 1 more times per setting with training seeds S + 1000·k (k = 1 … K − 1; results
in ``results_seed<S>_t<k>/``, predictions under ``benchmark_predictions/seed<S>_t<k>/``) and reported as method
``nnUNetTrainer@t<k>``: a method with no effect by construction, whose Δ is the bench's noise floor; and every method
is also compared with ``nnUNetTrainer`` averaged per test case over its K trajectories.

Presets (:data:`PRESETS`, one :class:`Preset` entry each): ``cpu`` (default) — 24 training and 20 test 40³ phantoms,
fold ``all``, nnU-Net's plans with a 4× narrower network (``nnunet-svl narrow-plans``) and the ``_bench`` budget (see
``trainers/budgets.py``), about 5 minutes per trained model on 2 CPU cores, a regime where label noise costs
nnU-Net several Dice points; ``cpu40`` — the first benchmark's 12 / 6 cases, fold 0; ``full`` — nnU-Net's default
plans and budget, for GPU machines; ``smoke`` — a few iterations, checks the pipeline. Every finished step is skipped when the
command is run again, so an interrupted benchmark resumes where it stopped.
"""
from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from nnunet_svl.runtime.atomic_io import atomic_write_bytes
from nnunet_svl.tools.pipeline import NNUNetWorkspace

TRAIN_SEED_ENV = "NNUNET_SVL_TRAIN_SEED"  # read by the trainers (nnunet_svl.runtime.seeding; not imported: torch)
CLEAN_LABELS_ENV = "NNUNET_SVL_CLEAN_LABELS"  # diagnostics only (nnunet_svl.trainers.diagnostics)
BASELINE = "nnUNetTrainer"
METHODS = ("nnUNetTrainer", "nnUNetTrainerDALE", "nnUNetTrainerVA3C", "nnUNetTrainerSVLDRL")
SOURCE_ID = 990
FIRST_NOISY_ID = 901


@dataclass
class Preset:
    """Everything a benchmark regime fixes; a new regime is one more entry in :data:`PRESETS`."""
    name: str
    plans: str
    budget: Optional[str]          # trainer suffix; None = nnU-Net's default budget
    narrow: bool                   # write the 4x narrower plans (``plans`` names them)
    demo_shape: Optional[tuple] = None   # (X, Y, Z) of the demo dataset written when no --source; None = its default
    n_train: int = 12              # demo dataset: training cases
    n_test: int = 6                # demo dataset: test cases
    configuration: str = "3d_fullres"
    fold: Union[int, str] = 0     # an nnU-Net fold: 0-4 or "all"
    noise_params: dict = field(default_factory=dict)
    """protocol -> keyword arguments for :func:`nnunet_svl.tools.corrupt.corrupt_dataset`, e.g.
    ``{"mt": {"side_range": [5, 11]}}``; protocols not named use the protocol's defaults"""
    description: str = ""


# the demo dataset the cpu preset writes when no --source is given: 40³ keeps ~500 iterations per model in minutes
CPU_DEMO_SHAPE = (40, 40, 40)
_CPU40 = dict(plans="nnUNetPlans_narrow", budget="bench", narrow=True, demo_shape=CPU_DEMO_SHAPE,
              description="2 CPU cores: 40³ demo, narrow network, 500 iterations (~5 min) per model")
PRESETS = {p.name: p for p in (
    # the default: 24 training cases (fold 'all') and 20 test cases of the 40³ phantoms, 500 iterations. Over 3 seeds
    # the noise costs nnUNetTrainer 9.9 (dilate rho 0.5), 10.6 (markov), 33.8 (dilate rho 1), 13.8 (mt rho 1) and only
    # 4.0 (mt rho 0.5: two-sided, it grows half of its cases and shrinks the other half) Dice points on the clean test
    # labels (BENCHMARKS.md, "The regime on three seeds" and "The regime for mt")
    Preset("cpu", plans="nnUNetPlans_narrow", budget="bench", narrow=True, demo_shape=CPU_DEMO_SHAPE, n_train=24,
           n_test=20, fold="all", description="2 CPU cores: 24 training / 20 test 40³ phantoms, fold all, narrow "
                                              "network, 500 iterations (~5 min) per model"),
    # the first benchmark's preset (12 / 6 cases, fold 0), kept for comparison
    Preset("cpu40", **_CPU40),
    Preset("full", "nnUNetPlans", None, False, description="nnU-Net's default plans and budget (GPU)"),
    # checks the pipeline, numbers meaningless
    Preset("smoke", "nnUNetPlans_narrow", "tiny", True, demo_shape=CPU_DEMO_SHAPE,
           description="a few iterations, checks the pipeline only"),
)}


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
    """the setting key: ``<protocol>_r<ratio>_s<seed>`` or ``clean_s<seed>``"""
    per_case: dict = field(default_factory=dict)
    """metric -> per test case value (mean over foreground classes), in the order of ``case_ids``"""
    case_ids: list = field(default_factory=list)
    seed: Optional[int] = None
    group: Optional[str] = None
    """the setting without its seed (``<protocol>_r<ratio>`` or ``clean``); seeds of one group are pooled"""
    seconds_per_epoch: float = float("nan")
    peak_rss_mb: float = float("nan")
    cuda_peak_mb: Optional[float] = None
    repair: Optional[dict] = None
    curves: dict = field(default_factory=dict)


def _nanmean(values) -> float:
    vals = [float(v) for v in values if v is not None and np.isfinite(float(v))]
    return float(np.mean(vals)) if vals else float("nan")


def preset_warning(preset: str, device: str) -> Optional[str]:
    """A warning for a preset that cannot finish on this device in reasonable time (``full`` on the CPU), or None."""
    p = PRESETS[preset]
    if p.budget is None and device == "cpu":
        return (f"WARNING: preset '{preset}' trains every model with nnU-Net's default budget (1000 epochs x 250 "
                "iterations) on the CPU: days per model. Use --device cuda on a GPU machine, or --preset cpu "
                "(about 5 minutes per model on 2 cores).")
    return None


def _progress(msg: str) -> None:
    print(f"[benchmark {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def epoch_durations(logging: dict) -> list[float]:
    """Each epoch's seconds from nnU-Net's checkpoint ``logging``: end minus start timestamp (a label round runs
    inside the epoch that ends it)."""
    return [e - s for s, e in zip(logging["epoch_start_timestamps"], logging["epoch_end_timestamps"])]


def _epoch_seconds(checkpoint_path: Path) -> tuple[float, dict]:
    import torch

    ckpt = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    log = ckpt["logging"]
    durations = epoch_durations(log)
    curves = {}
    for key, values in log.items():
        if key in ("epoch_start_timestamps", "epoch_end_timestamps"):
            continue
        try:
            curves[key] = [float(v) for v in values]
        except (TypeError, ValueError):
            pass  # per-class lists
    # mean, not median: a label round runs inside the epoch that ends it, every few epochs (every 2 in the 20-epoch
    # presets), so the median epoch leaves the rounds out; on a shared machine no figure of this column is a timing
    return float(np.mean(durations)) if durations else float("nan"), curves


def label_repair(ws: NNUNetWorkspace, noisy_dir: Path, run_dir: Path, plans: str, configuration: str,
                 fold: Union[int, str] = 0) -> Optional[dict]:
    """Dice(final training label, clean) − Dice(noisy, clean), mean over noisy training cases of the fold."""
    from nnunet_svl.tools.audit import final_training_labels_original_geometry
    from nnunet_svl.tools.metrics import dice

    manifest = json.loads((noisy_dir / "noise_manifest.json").read_text())
    finals = final_training_labels_original_geometry(ws, noisy_dir.name, run_dir, plans, configuration, fold)
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


TRAJECTORY_SEED_STEP = 1000
"""``nnUNetTrainer@t<k>`` trains with training seed S + k·TRAJECTORY_SEED_STEP (S the benchmark seed)."""


def split_trajectory(method: str) -> tuple[str, int]:
    """``nnUNetTrainer@t2`` -> (``nnUNetTrainer``, 2); any other name -> (name, 0)."""
    name, sep, k = method.rpartition("@t")
    return (name, int(k)) if sep and k.isdigit() else (method, 0)


def trajectory_suffix(trajectory: int) -> str:
    """What a trajectory k > 0 appends to its results root, prediction folder and log names: ``_t<k>``; '' for 0."""
    return f"_t{int(trajectory)}" if trajectory else ""


def seed_workspace(ws: NNUNetWorkspace, seed: int, trajectory: int = 0) -> NNUNetWorkspace:
    """The workspace every training of ``seed`` runs in: same raw and preprocessed data, its own ``nnUNet_results``
    root (``results_seed<seed>/``), and ``NNUNET_SVL_TRAIN_SEED`` set for the trainers. ``trajectory`` k > 0: the
    root ``results_seed<seed>_t<k>/`` and training seed ``seed + k·TRAJECTORY_SEED_STEP``."""
    results = ws.root / f"results_seed{int(seed)}{trajectory_suffix(trajectory)}"
    results.mkdir(parents=True, exist_ok=True)
    env = {**ws.env, "nnUNet_results": str(results),
           TRAIN_SEED_ENV: str(int(seed) + TRAJECTORY_SEED_STEP * int(trajectory))}
    return NNUNetWorkspace(root=ws.root, env=env, log_dir=ws.log_dir, quiet=ws.quiet)


def training_env(sws: NNUNetWorkspace, clean_labels: Path) -> dict:
    """What a benchmark training adds to its seed workspace's environment: one augmentation process unless the
    workspace says otherwise, the seed workspace's training seed (a trajectory's own), and the clean training labels
    for the diagnostics."""
    return {"nnUNet_n_proc_DA": sws.env.get("nnUNet_n_proc_DA", "0"), TRAIN_SEED_ENV: sws.env[TRAIN_SEED_ENV],
            CLEAN_LABELS_ENV: str(clean_labels)}


def _check_demo_dataset(src: Path, p: Preset) -> None:
    """A demo dataset left in the workspace by another preset would be reused silently: refuse it instead."""
    import SimpleITK as sitk

    from nnunet_svl.runtime.errors import SVLInputError

    info = json.loads((src / "dataset.json").read_text())
    images = sorted((src / "imagesTr").glob("*"))
    found_shape = None
    if images:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(images[0]))
        reader.ReadImageInformation()
        found_shape = tuple(int(v) for v in reader.GetSize())
    want_shape = tuple(p.demo_shape) if p.demo_shape else None
    n_test = len(list((src / "labelsTs").glob("*"))) if (src / "labelsTs").is_dir() else 0
    if info.get("numTraining") != p.n_train or n_test != p.n_test or (want_shape and found_shape != want_shape):
        raise SVLInputError(src, f"the workspace's demo dataset ({info.get('numTraining')} training, {n_test} test "
                                 f"cases, shape {found_shape}) was not written for preset {p.name!r} ({p.n_train}, "
                                 f"{p.n_test}, shape {want_shape or 'default'})",
                            "use a new --workspace for this preset")


def _dataset_id(ds: Path) -> int:
    return int(ds.name[len("Dataset"):].split("_")[0])


@contextmanager
def _workspace_lock(root: Path, lock_file: str = ".benchmark_datasets.lock", doing: str = "preparing datasets in"):
    """An exclusive lock (``filelock``, across processes) on the workspace's dataset preparation, or with
    ``lock_file`` / ``doing`` on one run's training and prediction; says so when it waits for another benchmark."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(Path(root) / lock_file))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        _progress(f"waiting for another benchmark that is {doing} {root}")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _noisy_copies(ws: NNUNetWorkspace, src: Path, p: Preset, protocols: Sequence[str], ratios: Sequence[float],
                  seeds: Sequence[int]) -> list:
    """Step 2 of :func:`run_benchmark` (under :func:`_workspace_lock`): one noisy copy of ``src`` per protocol, ratio
    and seed (the seed is the corruption seed), the workspace's copy when it has one, else written under the next free
    dataset id from :data:`FIRST_NOISY_ID`. Returns [(setting key, group, seed, dataset folder)]."""
    from nnunet_svl.tools.corrupt import corrupt_dataset

    noisy: list[tuple[str, str, int, Path]] = []   # (setting key, group, seed, dataset folder)
    next_id = FIRST_NOISY_ID
    for protocol in protocols:
        for ratio in ratios:
            for seed in seeds:
                group = f"{protocol}_r{ratio:g}"
                tag = f"{group}_s{seed}"
                name = f"{src.name.split('_', 1)[1]}_{tag}".replace(".", "p")
                existing = sorted(ws.raw.glob(f"Dataset*_{name}"))
                if existing:
                    noisy.append((tag, group, seed, existing[0]))
                    continue
                while any(ws.raw.glob(f"Dataset{next_id:03d}_*")):
                    next_id += 1
                _progress(f"step 2: corrupting {src.name} with {protocol}, rho={ratio}, seed={seed}")
                noisy.append((tag, group, seed, corrupt_dataset(src, target_id=next_id, protocol=protocol,
                                                                ratio=ratio, seed=seed, raw_root=ws.raw,
                                                                target_name=name,
                                                                **dict(p.noise_params.get(protocol, {})))))

    return noisy


def _prepare_datasets(ws: NNUNetWorkspace, p: Preset, source: Optional[str], protocols: Sequence[str],
                      ratios: Sequence[float], seeds: Sequence[int], configuration: str) -> tuple:
    """Steps 1-3 of :func:`run_benchmark` (call under :func:`_workspace_lock`): the clean source dataset, one noisy
    copy per protocol, ratio and seed (reused when the workspace has it), each planned and preprocessed once.
    Returns (source folder, [(setting key, group, seed, dataset folder)])."""
    from nnunet_svl.tools.demo_data import write_demo_dataset
    from nnunet_svl.tools.raw_dataset import find_dataset_folder

    # 1. source dataset (clean labels)
    if source is None:
        src = next(iter(sorted(ws.raw.glob(f"Dataset{SOURCE_ID:03d}_*"))), None)
        if src is None:
            _progress("step 1: writing the demo dataset")
            src = write_demo_dataset(ws.raw, dataset_id=SOURCE_ID, n_train=p.n_train, n_test=p.n_test,
                                     **({"shape": tuple(p.demo_shape)} if p.demo_shape else {}))
        else:
            _check_demo_dataset(src, p)
    else:
        src = find_dataset_folder(source, ws.raw if Path(ws.raw).exists() else None)

    # 2. noisy copies (one per protocol, ratio and seed: the seed is the corruption seed)
    noisy = _noisy_copies(ws, src, p, protocols, ratios, seeds)

    # 3. plan and preprocess
    for ds in [src] + [d for *_, d in noisy]:
        plan_dataset(ws, p, ds, configuration)

    return src, noisy


def plan_dataset(ws: NNUNetWorkspace, p: Preset, ds: Path, configuration: str) -> None:
    """Step 3 of :func:`run_benchmark` for one raw dataset: ``nnUNetv2_plan_and_preprocess`` unless the workspace
    has it planned and preprocessed for ``configuration``, then the preset's narrow plans (if it uses them)."""
    from nnunet_svl.tools.plans import write_narrow_plans

    ds_id = _dataset_id(ds)
    pre = ws.preprocessed / ds.name
    if not (pre / "nnUNetPlans.json").is_file() or not any(pre.glob(f"nnUNetPlans_{configuration}*")):
        _progress(f"step 3: nnUNetv2_plan_and_preprocess -d {ds_id} -c {configuration}")
        ws.plan_and_preprocess(ds_id, configurations=(configuration,))
    if p.narrow:
        write_narrow_plans(ws.preprocessed, ds_id, target_plans=p.plans)


def evaluation_is_current(evaluation: Path, checkpoint: Path) -> bool:
    """Whether a cached test-set evaluation was made from this checkpoint: it exists and is not older than the
    checkpoint. A run trained again (its folder moved away or deleted, then retrained) has a newer checkpoint, so its
    test images are predicted again instead of its predecessor's predictions being scored under its name."""
    if not evaluation.is_file():
        return False
    return not checkpoint.is_file() or evaluation.stat().st_mtime_ns >= checkpoint.stat().st_mtime_ns


def _train_and_predict(sws: NNUNetWorkspace, ws: NNUNetWorkspace, p: Preset, ds: Path, ds_id: int, trainer: str,
                       configuration: str, fold, device: str, fold_dir: Path, pred_dir: Path, step: str,
                       label: str) -> None:
    """Steps 4-6 of :func:`run_benchmark` for one run (under its lock): train it (or resume it with ``--c``) unless its
    checkpoint and measure file exist, then predict the test images and evaluate them unless that evaluation is
    newer than the checkpoint."""
    from nnunet_svl.tools.evaluate import evaluate_folders, write_results_json
    from nnunet_svl.trainers.budgets import budget_epochs

    measure_file = fold_dir / "svl_measure.json"
    if not (fold_dir / "checkpoint_final.pth").is_file() or not measure_file.is_file():
        _progress(f"{label}: training {trainer} (log: {ws.log_dir}/train_{step}.log)")
        resume = (fold_dir / "checkpoint_latest.pth").is_file()
        tmp_measure = ws.log_dir / f"measure_{step}.json"
        argv = [sys.executable, "-m", "nnunet_svl.tools.measure", str(tmp_measure), "nnUNetv2_train", str(ds_id),
                configuration, str(fold), "-tr", trainer, "-p", p.plans, "-device", device]
        if resume:
            argv.append("--c")
        # diagnostics only (memorisation curves, correction quality, oracle ablations): the clean labels
        clean_dir = ds / "labelsTr_clean" if (ds / "labelsTr_clean").is_dir() else ds / "labelsTr"
        sws.run(f"train_{step}", argv, extra_env=training_env(sws, clean_dir),
                progress_epochs=budget_epochs(trainer) or 1000)
        fold_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(measure_file, tmp_measure.read_bytes())
    if not evaluation_is_current(pred_dir / "svl_evaluation.json", fold_dir / "checkpoint_final.pth"):
        _progress(f"{label}: predicting the test images (stock nnUNetv2_predict)")
        sws.predict(ds_id, trainer, ds / "imagesTs", pred_dir, configuration=configuration, folds=(fold,),
                    plans=p.plans, device=device, name=f"predict_{step}")
        write_results_json(evaluate_folders(pred_dir, ds / "labelsTs", dataset_json=ds / "dataset.json"),
                           pred_dir / "svl_evaluation.json")


def run_benchmark(workspace: Path, source: Optional[str] = None, protocols: Sequence[str] = ("mt", "dilate"),
                  ratios: Sequence[float] = (0.5,), seeds: Sequence[int] = (0,), methods: Sequence[str] = METHODS,
                  preset: str = "cpu", device: str = "cpu", configuration: Optional[str] = None,
                  fold: Optional[Union[int, str]] = None, output: Optional[Path] = None, clean_methods: bool = True,
                  verbose: bool = False, baseline_trajectories: int = 1) -> dict:
    """``configuration``/``fold``: None = the preset's. ``clean_methods``: train every method on the clean labels of
    every seed (the no-harm check); False: only ``nnUNetTrainer`` (the upper bound), for quick runs. ``verbose``:
    nnU-Net's output on the console instead of live progress lines. ``baseline_trajectories`` K: ``nnUNetTrainer``
    trained K times per setting with different training seeds (module docstring, "Trajectories")."""
    from nnunet_svl.tools.evaluate import case_means

    p = PRESETS[preset]
    configuration = configuration or p.configuration
    fold = p.fold if fold is None else (fold if fold == "all" else int(fold))
    seeds = list(dict.fromkeys(int(s) for s in seeds))
    if int(baseline_trajectories) < 1:
        raise ValueError(f"baseline_trajectories must be >= 1, got {baseline_trajectories}")
    extra_baselines = [f"{BASELINE}@t{k}" for k in range(1, int(baseline_trajectories))]
    ws = NNUNetWorkspace.create(Path(workspace), quiet=not verbose)
    out_dir = Path(output) if output else ws.root / "benchmark"
    out_dir.mkdir(parents=True, exist_ok=True)
    warning = preset_warning(preset, device)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    _progress(f"workspace {ws.root}, preset {preset}, seeds {seeds}, logs in {ws.log_dir}")

    # 1-3. datasets, under the workspace's lock: another benchmark started on this workspace at the same moment would
    # otherwise pick the same free dataset id or preprocess the same dataset twice
    with _workspace_lock(ws.root):
        src, noisy = _prepare_datasets(ws, p, source, protocols, ratios, seeds, configuration)

    # 4-6. train, predict, evaluate; seed by seed, so that an interrupted run has whole seeds
    clean_list = list(methods) if clean_methods else []
    clean_list = [BASELINE] + [m for m in clean_list if m != BASELINE] + extra_baselines
    noisy_list = list(methods) + (extra_baselines if BASELINE in methods else [])
    jobs = []   # (setting key, group, seed, dataset, method)
    for seed in seeds:
        jobs += [(f"clean_s{seed}", "clean", seed, src, m) for m in clean_list]
        jobs += [(tag, group, s, d, m) for tag, group, s, d in noisy if s == seed for m in noisy_list]
    results: list[RunResult] = []
    for i, (noise, group, seed, ds, method) in enumerate(jobs, 1):
        base_method, trajectory = split_trajectory(method)
        sws = seed_workspace(ws, seed, trajectory)
        ds_id = _dataset_id(ds)
        trainer = trainer_class_name(base_method, p)
        run_dir = sws.run_folder(ds.name, trainer, configuration, p.plans)
        fold_dir = run_dir / f"fold_{fold}"
        label = f"[{i}/{len(jobs)}] {method} on {noise}"
        measure_file = fold_dir / "svl_measure.json"
        step = f"{ds_id}_{trainer}_s{seed}{trajectory_suffix(trajectory)}"
        pred_dir = ws.root / "benchmark_predictions" / f"seed{seed}{trajectory_suffix(trajectory)}" / ds.name / trainer
        # a second benchmark that names the same run waits here for the first to finish it (it would otherwise
        # see a run without its measure file and resume it with --c in a second process)
        with _workspace_lock(ws.log_dir, f".train_{step}.lock", f"training {trainer} on {ds.name} (seed {seed}) in"):
            _train_and_predict(sws, ws, p, ds, ds_id, trainer, configuration, fold, device, fold_dir, pred_dir,
                               step, label)
        evaluation = json.loads((pred_dir / "svl_evaluation.json").read_text())
        measure = json.loads(measure_file.read_text())
        spe, curves = _epoch_seconds(fold_dir / "checkpoint_final.pth")
        case_ids = list(evaluation["per_case"])
        means = {metric: case_means(evaluation, metric) for metric in ("dice", "iou", "hd95", "assd")}
        per_case = {metric: [by_case[c] for c in case_ids] for metric, by_case in means.items()}
        r = RunResult(dataset=ds.name, method=method, trainer=trainer, noise=noise, per_case=per_case,
                      case_ids=case_ids, seed=seed, group=group, seconds_per_epoch=spe,
                      peak_rss_mb=measure["peak_rss_mb"], cuda_peak_mb=measure.get("cuda_peak_allocated_mb"),
                      curves=curves)
        if group != "clean":
            r.repair = label_repair(sws, ds, run_dir, p.plans, configuration, fold) if base_method != BASELINE \
                else {"repair_points": 0.0}
        results.append(r)
        _progress(f"{label}: mean Dice {_nanmean(r.per_case['dice']):.4f}, {spe:.1f} s/epoch")

    from nnunet_svl.tools.benchmark_report import write_report

    report = write_report(results, out_dir, preset=p, command=" ".join(sys.argv))
    _progress(f"done: {out_dir / 'benchmark.md'}")
    return report
