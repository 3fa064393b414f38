"""``nnunet-svl``: the plugin's command line (doctor, demo data, corruption, evaluation, the demo job, plans).

Bad input ends with one line ``error: <file>: <problem>. Fix: <what to do>`` and exit status 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Optional

from nnunet_svl.runtime.errors import SVLInputError
from nnunet_svl.tools.pipeline import StepFailed


def fold_arg(value: str):
    """An nnU-Net fold on the command line: an integer or 'all'."""
    if value == "all":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a fold: use 0-4 or 'all'") from None


def positive_int(value: str) -> int:
    """An integer >= 1 on the command line."""
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer >= 1")
    return n


def _cmd_doctor(args: argparse.Namespace) -> int:
    from nnunet_svl.tools.doctor import run_doctor

    return run_doctor(verbose=not args.quiet)


def _cmd_demo_dataset(args: argparse.Namespace) -> int:
    from nnunet_svl.tools.demo_data import LESION_CONTRAST_SD, write_demo_dataset
    from nnunet_svl.tools.workspace import raw_root_from_env

    raw_root = Path(args.raw_root) if args.raw_root else raw_root_from_env()
    folder = write_demo_dataset(raw_root, dataset_id=args.dataset_id, name=args.name, n_train=args.n_train,
                                n_test=args.n_test, shape=tuple(args.shape), num_classes=args.num_classes,
                                seed=args.seed,
                                lesion_contrast_sd=LESION_CONTRAST_SD if args.lesion_contrast is None
                                else args.lesion_contrast)
    print(f"wrote {folder}")
    return 0


def _cmd_corrupt(args: argparse.Namespace) -> int:
    from nnunet_svl.tools.corrupt import corrupt_dataset
    from nnunet_svl.tools.workspace import raw_root_from_env

    raw_root = Path(args.raw_root) if args.raw_root else raw_root_from_env()
    params = {}
    for kv in args.param or []:
        if "=" not in kv:
            raise SVLInputError(None, f"--param {kv!r} is not KEY=VALUE", "write e.g. --param side_range=3,9")
        k, v = kv.split("=", 1)
        params[k] = _parse_param(v)
    folder = corrupt_dataset(args.source, target_id=args.target_id, protocol=args.protocol, ratio=args.ratio,
                             seed=args.seed, raw_root=raw_root, target_name=args.target_name,
                             classes=args.classes, link_images=args.link_images, **params)
    print(f"wrote {folder}")
    return 0


def _parse_param(v: str):
    parts = v.split(",")
    vals = []
    for p in parts:
        try:
            vals.append(int(p))
        except ValueError:
            try:
                vals.append(float(p))
            except ValueError:
                vals.append(p)
    return tuple(vals) if len(vals) > 1 else vals[0]


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from nnunet_svl.tools.evaluate import evaluate_folders, format_table, write_results_json

    result = evaluate_folders(Path(args.pred), Path(args.ref),
                              dataset_json=Path(args.dataset_json) if args.dataset_json else None,
                              file_ending=args.file_ending)
    print(format_table(result))
    out = Path(args.output) if args.output else Path(args.pred) / "svl_evaluation.json"
    write_results_json(result, out)
    print(f"wrote {out}")
    return 0


def _cmd_narrow_plans(args: argparse.Namespace) -> int:
    from nnunet_svl.tools.plans import write_narrow_plans
    from nnunet_svl.tools.workspace import preprocessed_root_from_env

    pre = Path(args.preprocessed_root) if args.preprocessed_root else preprocessed_root_from_env()
    path = write_narrow_plans(pre, args.dataset, source_plans=args.plans, width_divisor=args.width_divisor,
                              max_features=args.max_features, target_plans=args.target_plans)
    print(f"wrote {path}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from nnunet_svl.tools.demo import run_demo

    return run_demo(workspace=Path(args.workspace), trainer=args.trainer, protocol=args.protocol, ratio=args.ratio,
                    seed=args.seed, device=args.device, fresh=args.fresh, verbose=args.verbose,
                    compare=args.compare)


def _cmd_benchmark(args: argparse.Namespace) -> int:
    from nnunet_svl.tools.benchmark import run_benchmark

    run_benchmark(Path(args.workspace), source=args.source, protocols=args.protocols, ratios=args.ratios,
                  seeds=args.seeds, methods=args.methods, preset=args.preset, device=args.device,
                  configuration=args.configuration, fold=args.fold, output=Path(args.output) if args.output else None,
                  clean_methods=not args.no_clean_methods, verbose=args.verbose,
                  baseline_trajectories=args.baseline_trajectories)
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from nnunet_svl.tools.audit import run_audit
    from nnunet_svl.tools.raw_dataset import find_dataset_folder
    from nnunet_svl.tools.workspace import preprocessed_root_from_env

    run_dir = Path(args.run_dir)
    raw = Path(args.raw_dataset) if args.raw_dataset else find_dataset_folder(run_dir.parent.name)
    pre = Path(args.preprocessed_root) if args.preprocessed_root else preprocessed_root_from_env()
    out = Path(args.output) if args.output else run_dir / f"fold_{args.fold}" / "audit"
    run_audit(run_dir, raw, pre, out, fold=args.fold, n_overlays=args.overlays)
    print(f"wrote {out} (audit.csv, *_corrected / *_changes / *_suspicion images, overlays)")
    return 0


def _cmd_label_qa(args: argparse.Namespace) -> int:
    from nnunet_svl.tools.label_qa import run_label_qa
    from nnunet_svl.tools.raw_dataset import find_dataset_folder

    run_dir = Path(args.run_dir)
    raw = Path(args.raw_dataset) if args.raw_dataset else find_dataset_folder(run_dir.parent.name)
    out = Path(args.output) if args.output else run_dir / "label_qa"
    run_label_qa(run_dir, raw, out, folds=args.folds, clean_labels=Path(args.clean_labels) if args.clean_labels
                 else None, n_overlays=args.overlays, ignore_dataset_id=args.ignore_dataset_id,
                 image_evidence=not args.no_image_evidence)
    return 0


def _cmd_trainers(args: argparse.Namespace) -> int:
    from nnunet_svl.trainers.registry import describe_trainers

    rows = describe_trainers(include_budgets=args.all)
    width = max(len(name) for name, _ in rows)
    for name, what in rows:
        print(f"{name:<{width}}  {what}")
    if not args.all:
        print("\n(short-budget variants: append _tiny, _demo or _bench to any name above; --all lists them)")
    return 0


def _cmd_scale_check(args: argparse.Namespace) -> int:
    import json

    from nnunet_svl.tools.scale import measure_label_store_scale

    out = Path(args.folder)
    if out.exists() and any(out.iterdir()):
        raise SVLInputError(out, "folder is not empty", "pass a new folder; the check fills it with a label store")
    result = measure_label_store_scale(out, n_cases=args.cases, shape=(args.shape,) * 3, rounds=args.rounds)
    print(json.dumps(result, indent=1))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from nnunet_svl.tools.noise import PROTOCOLS

    p = argparse.ArgumentParser(prog="nnunet-svl", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("doctor", help="check torch/torchvision/nnU-Net/nnUNet_extTrainer and say how to fix problems")
    s.add_argument("--quiet", action="store_true", help="print only problems")
    s.set_defaults(func=_cmd_doctor)

    s = sub.add_parser("demo-dataset", help="write the synthetic 3-D phantom dataset (nnU-Net raw format)")
    s.add_argument("--raw-root", help="nnU-Net raw folder (default: $nnUNet_raw)")
    s.add_argument("--dataset-id", type=int, default=990, help="nnU-Net dataset id to write (default 990)")
    s.add_argument("--name", default="SVLDemo", help="dataset name (DatasetXXX_NAME; default SVLDemo)")
    s.add_argument("--n-train", type=int, default=12, help="training cases (default 12)")
    s.add_argument("--n-test", type=int, default=6, help="test cases with labels in labelsTs (default 6)")
    s.add_argument("--shape", type=int, nargs=3, default=(48, 48, 48), metavar=("X", "Y", "Z"),
                   help="image size in voxels (default 48 48 48)")
    s.add_argument("--num-classes", type=int, default=1, choices=(1, 2), help="foreground classes (default 1)")
    s.add_argument("--seed", type=int, default=0, help="random seed of the phantoms (default 0)")
    s.add_argument("--lesion-contrast", type=float, metavar="SD",
                   help="the lesion's brightening in units of the image noise's sd (default 1.75; lower = fainter "
                        "edges)")
    s.set_defaults(func=_cmd_demo_dataset)

    s = sub.add_parser("corrupt", help="write a NEW dataset whose training labels are corrupted by a noise protocol")
    s.add_argument("source", help="source dataset: id, DatasetXXX_Name or path")
    s.add_argument("--target-id", type=int, required=True, help="dataset id of the new, noisy dataset")
    s.add_argument("--protocol", required=True, choices=list(PROTOCOLS), help="noise protocol (docs/METHOD.md §4)")
    s.add_argument("--ratio", type=float, default=0.5, help="fraction ρ of training cases made noisy")
    s.add_argument("--seed", type=int, default=0, help="noise seed: which cases are noisy and how (default 0)")
    s.add_argument("--classes", type=int, nargs="+", help="foreground labels to corrupt (default: all)")
    s.add_argument("--target-name", help="name of the new dataset (default: SOURCE_PROTOCOL_rhoX)")
    s.add_argument("--link-images", action="store_true", help="symlink images instead of copying them")
    s.add_argument("--param", action="append", metavar="KEY=VALUE", help="protocol parameter, e.g. side_range=3,9")
    s.add_argument("--raw-root", help="nnU-Net raw folder (default: $nnUNet_raw)")
    s.set_defaults(func=_cmd_corrupt)

    s = sub.add_parser("evaluate", help="Dice, IoU, HD95, ASSD (mm) of predictions against reference labels")
    s.add_argument("pred", help="folder of predictions")
    s.add_argument("ref", help="folder of reference labels")
    s.add_argument("--dataset-json", help="dataset.json giving the labels (default: labels found in the references)")
    s.add_argument("--file-ending", default=".nii.gz", help="file ending of the label files (default .nii.gz)")
    s.add_argument("-o", "--output", help="JSON output (default: PRED/svl_evaluation.json)")
    s.set_defaults(func=_cmd_evaluate)

    s = sub.add_parser("narrow-plans", help="write a narrow-network copy of a plans file (fast CPU runs)")
    s.add_argument("dataset", help="dataset id or name")
    s.add_argument("--plans", default="nnUNetPlans", help="plans to copy (default nnUNetPlans)")
    s.add_argument("--target-plans", default="nnUNetPlans_narrow", help="name of the narrow copy (default nnUNetPlans_narrow)")
    s.add_argument("--width-divisor", type=int, default=4, help="divide every stage's feature count by this (default 4)")
    s.add_argument("--max-features", type=int, default=128, help="cap on the feature count of a stage (default 128)")
    s.add_argument("--preprocessed-root", help="default: $nnUNet_preprocessed")
    s.set_defaults(func=_cmd_narrow_plans)

    s = sub.add_parser("benchmark", help="corrupt → plan → train every method on the same noisy labels → predict → "
                                         "evaluate on clean labels; tables, ratios and plots")
    s.add_argument("--workspace", default="nnunet_svl_benchmark", help="folder for raw/preprocessed/results; a re-run resumes "
                   "where it stopped (default nnunet_svl_benchmark)")
    s.add_argument("--source", help="clean nnU-Net raw dataset (id, name or path); default: the demo dataset")
    s.add_argument("--protocols", nargs="*", default=["mt", "dilate"], choices=list(PROTOCOLS),
                   help="noise protocols (default: mt dilate; docs/METHOD.md §4); the option with no protocol "
                        "trains on the clean labels only (the no-harm rows)")
    s.add_argument("--ratios", nargs="+", type=float, default=[0.5], help="fractions ρ of noisy training cases (default 0.5)")
    s.add_argument("--seeds", nargs="+", type=int, default=[0],
                   help="each seed sets the noise (corruption) seed and the training seed (NNUNET_SVL_TRAIN_SEED); "
                        "the report pools seeds and pairs every method with nnUNetTrainer per seed and test case")
    s.add_argument("--methods", nargs="+", default=["nnUNetTrainer", "nnUNetTrainerDALE", "nnUNetTrainerVA3C",
                                                    "nnUNetTrainerSVLDRL"],
                   help="trainers to compare, without budget suffix (see `nnunet-svl trainers`)")
    s.add_argument("--no-clean-methods", action="store_true",
                   help="train only nnUNetTrainer on the clean labels (default: every method, the no-harm check)")
    s.add_argument("--baseline-trajectories", type=positive_int, default=1, metavar="K",
                   help="train nnUNetTrainer K times per setting with different training seeds: reports the bench's "
                        "noise floor (nnUNetTrainer@t1 vs nnUNetTrainer) and every method against nnUNetTrainer "
                        "averaged over its K runs (default 1: off)")
    from nnunet_svl.tools.benchmark import PRESETS

    s.add_argument("--preset", choices=list(PRESETS), default="cpu",
                   help="; ".join(f"{name}: {pr.description}" for name, pr in PRESETS.items()) + " (default: cpu)")
    s.add_argument("--device", default="cpu", choices=("cpu", "cuda", "mps"), help="nnU-Net's -device (default cpu)")
    s.add_argument("--configuration", help="default: the preset's (3d_fullres)")
    s.add_argument("--fold", type=fold_arg, help="0-4 or 'all' (default: the preset's)")
    s.add_argument("-o", "--output", help="report folder (default: WORKSPACE/benchmark)")
    s.add_argument("--verbose", action="store_true",
                   help="stream nnU-Net's output to the console (default: one progress line per epoch; the full "
                        "output is in WORKSPACE/logs)")
    s.set_defaults(func=_cmd_benchmark)

    s = sub.add_parser("audit", help="export a run's corrected labels, change and suspicion maps in the original "
                                     "image geometry, with a CSV ranking and PNG overlays")
    s.add_argument("run_dir", help="nnUNet_results/<dataset>/<trainer>__<plans>__<configuration>")
    s.add_argument("--fold", type=fold_arg, default=0, help="0-4 or 'all' (default 0)")
    s.add_argument("--raw-dataset", help="the raw dataset folder (default: found in $nnUNet_raw)")
    s.add_argument("--preprocessed-root", help="default: $nnUNet_preprocessed")
    s.add_argument("--overlays", type=int, default=5, help="PNG overlays of the most changed cases (default 5)")
    s.add_argument("-o", "--output", help="output folder (default: RUN_DIR/fold_K/audit)")
    s.set_defaults(func=_cmd_audit)

    s = sub.add_parser("label-qa", help="which training labels are likely wrong, from nnU-Net's 5-fold held-out "
                                        "predictions (train with --npz): ranking, suspicion maps, ignore-label dataset")
    s.add_argument("run_dir", help="nnUNet_results/<dataset>/<trainer>__<plans>__<configuration> with fold_0..4 "
                                   "trained with --npz")
    s.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="folds to read (default 0-4)")
    s.add_argument("--raw-dataset", help="the raw dataset folder (default: found in $nnUNet_raw)")
    s.add_argument("-o", "--output", help="output folder (default: RUN_DIR/label_qa)")
    s.add_argument("--clean-labels", help="benchmark only: a folder of the clean training labels; adds AUROCs and "
                                          "flag precision / recall to summary.json")
    s.add_argument("--ignore-dataset-id", type=int,
                   help="also write a NEW raw dataset with this id whose label-issue voxels in flagged cases carry "
                        "nnU-Net's ignore label")
    s.add_argument("--overlays", type=int, default=5, help="PNG overlays of the worst cases (default 5)")
    s.add_argument("--no-image-evidence", action="store_true",
                   help="flag and rank by the held-out score alone (default: the image's edge at the label's boundary "
                        "withdraws flags of labels it confirms and flags labels whose boundary has no edge; one "
                        "foreground class only)")
    s.set_defaults(func=_cmd_label_qa)

    s = sub.add_parser("trainers", help="list every -tr name this package offers, with what each does")
    s.add_argument("--all", action="store_true", help="include the short-budget variants (_tiny, _demo, _bench)")
    s.set_defaults(func=_cmd_trainers)

    s = sub.add_parser("scale-check", help="write label rounds of many large synthetic cases through the label "
                                           "store; report disk, peak memory and seconds per round")
    s.add_argument("folder", help="a new, empty folder")
    s.add_argument("--cases", type=int, default=200, help="number of synthetic cases (default 200)")
    s.add_argument("--shape", type=int, default=128, help="cube side in voxels")
    s.add_argument("--rounds", type=int, default=3, help="label rounds to write (default 3)")
    s.set_defaults(func=_cmd_scale_check)

    s = sub.add_parser("demo", help="the whole journey on the demo dataset: create, corrupt, plan, train, predict, "
                                    "evaluate (a few minutes on CPU)")
    s.add_argument("--workspace", default="nnunet_svl_workspace", help="folder for raw/preprocessed/results")
    s.add_argument("--trainer", default="nnUNetTrainerSVLDRL_demo", help="trainer to run (default nnUNetTrainerSVLDRL_demo)")
    s.add_argument("--protocol", default="mt", choices=list(PROTOCOLS), help="noise protocol (default mt)")
    s.add_argument("--ratio", type=float, default=0.5, help="fraction ρ of noisy training cases (default 0.5)")
    s.add_argument("--seed", type=int, default=0, help="noise and training seed (default 0)")
    s.add_argument("--device", default="cpu", choices=("cpu", "cuda", "mps"), help="nnU-Net's -device (default cpu)")
    s.add_argument("--fresh", action="store_true", help="delete the workspace first")
    s.add_argument("--compare", action="store_true",
                   help="also train stock nnUNetTrainer (same budget, same noisy labels) and print both results")
    s.add_argument("--verbose", action="store_true",
                   help="stream nnU-Net's output to the console (default: one progress line per epoch; the full "
                        "output is in WORKSPACE/logs)")
    s.set_defaults(func=_cmd_demo)
    return p


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return int(func(args) or 0)
    except SVLInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except StepFailed as e:
        # an nnU-Net step (plan/preprocess, train, predict) failed: its log holds nnU-Net's own traceback
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
