"""``nnunet-svl label-qa``: which training labels are likely wrong, from nnU-Net's own 5-fold cross-validation.

Reads only nnU-Net's standard outputs: ``RUN_DIR/fold_K/validation/<case>.npz`` (held-out probabilities, written by
``nnUNetv2_train ... --npz``, in the original image geometry) and the raw dataset's ``labelsTr``. The algorithm is in
:mod:`nnunet_svl.qa.held_out` (calibration, confident-learning thresholds, voxel suspicion, case scores). Writes:

* ``label_qa.csv`` — cases ranked most suspect first: by the image's verdict at the label's boundary (edge absent,
  none, confirmed: :mod:`nnunet_svl.qa.image_evidence`), then by noise score (1 − the minimum over classes — or
  regions — of the Dice of the held-out prediction with the given label); whether they are flagged (the noise score's
  robust outliers less the cases the image confirms, plus the edge-absent ones), the edge fit (``edge_offset``:
  voxels the label lies outside the image's edge, ``edge_step_t``, ``image``: confirmed / edge absent), per-class (``dice_class_c``)
  or per-region (``dice_<region>``) Dice, label-issue voxels, and the volume ratio (the given label's volume against
  the held-out model's expected volume, ``volume_ratio_class_c`` / ``volume_ratio_<region>``: well above 1 = drawn
  larger than the model expects);
* ``<case>_suspicion<ending>`` — 1 − calibrated held-out probability of the given label (float, the label's
  geometry), and ``<case>_issues<ending>`` — the label-issue voxels (1), for 3D Slicer / ITK-SNAP over the image;
* ``confusion.csv`` — voxel counts of (given label, held-out argmax); for regions, (given, held-out) outside / inside
  per region;
* ``summary.json`` — temperature, per-class thresholds, flagged cases, and, with ``--clean-labels``, the AUROCs of the
  case score for noisy cases and of the voxel suspicion for wrong voxels (benchmark evidence);
* ``overlays/<case>.png`` for the worst cases;
* with ``--ignore-dataset-id N``: a NEW raw dataset whose label-issue voxels in flagged cases carry nnU-Net's ignore
  label (the given dataset is untouched), to train on without the suspect voxels.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import SimpleITK as sitk

from nnunet_svl.diagnostics.quality import auroc
from nnunet_svl.qa.held_out import (CaseScore, balanced_sample, calibrate, case_score, class_sums, confusion_counts,
                                    fit_temperature, region_problem, volume_ratios, voxel_suspicion)
from nnunet_svl.qa.image_evidence import label_edge_fit, qa_case_flags, ranking_key
from nnunet_svl.runtime.atomic_io import atomic_write_bytes, atomic_write_json
from nnunet_svl.runtime.errors import SVLInputError
from nnunet_svl.tools.audit import csv_bytes, save_figure_png, write_image_like
from nnunet_svl.tools.raw_dataset import RawDataset, dataset_id_and_name, load_raw_dataset

FOLDS = (0, 1, 2, 3, 4)


def _run_parts(run_dir: Path) -> tuple[str, str, str]:
    """(trainer, plans, configuration) from ``<trainer>__<plans>__<configuration>``."""
    parts = run_dir.name.split("__")
    if len(parts) != 3:
        raise SVLInputError(run_dir, "is not an nnU-Net training output folder (<trainer>__<plans>__<configuration>)",
                            "pass $nnUNet_results/DatasetXXX_Name/<trainer>__<plans>__<configuration>")
    return parts[0], parts[1], parts[2]


def held_out_files(run_dir: Path, folds: Sequence[int], dataset_id: int) -> dict[str, Path]:
    """case → its held-out probability file; clear errors for a missing fold or missing ``--npz`` output."""
    trainer, plans, configuration = _run_parts(run_dir)
    files: dict[str, Path] = {}
    for k in folds:
        fold = run_dir / f"fold_{k}"
        train = f"nnUNetv2_train {dataset_id} {configuration} {k} -tr {trainer} -p {plans}"
        if not (fold / "checkpoint_final.pth").is_file():
            raise SVLInputError(fold, "fold was not trained (no checkpoint_final.pth)", f"run `{train} --npz`")
        npz = sorted((fold / "validation").glob("*.npz"))
        if not npz:
            raise SVLInputError(fold / "validation", "holds no held-out probabilities (.npz)",
                                f"re-run the validation with probabilities: `{train} --val --npz`")
        for f in npz:
            files.setdefault(f.stem, f)
    return files


def _read_label(ds: RawDataset, case: str, folder: Optional[Path] = None) -> tuple[np.ndarray, sitk.Image]:
    path = (folder / f"{case}{ds.file_ending}") if folder is not None else ds.label_path(case)
    img = sitk.ReadImage(str(path))
    return sitk.GetArrayFromImage(img), img


def _class_channels(label: np.ndarray, ignore: Optional[int]) -> np.ndarray:
    """Label values are the softmax channels (nnU-Net's consecutive labels); the ignore label becomes −1."""
    out = label.astype(np.int16)
    return np.where(out == ignore, -1, out) if ignore is not None else out


def _load_probs(path: Path, like: np.ndarray) -> np.ndarray:
    with np.load(path) as z:
        p = z["probabilities"].astype(np.float32)
    if p.shape[1:] != like.shape:
        if int(np.prod(p.shape[1:])) != like.size:
            raise SVLInputError(path, f"probabilities of shape {p.shape[1:]} do not match the label's {like.shape}",
                                "the validation outputs belong to another dataset; re-run it with --val --npz")
        p = p.reshape((p.shape[0],) + like.shape)     # 2-D: nnU-Net's leading singleton axis
    return p


def _image_channels(ds: RawDataset, case: str, like: np.ndarray) -> Optional[np.ndarray]:
    """The case's input channels as (C, *sp) in the label's array geometry; None when a file's array does not match
    it (the image evidence is then skipped for the case)."""
    channels = []
    for path in ds.image_paths(case):
        a = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
        if a.shape == like.shape:
            channels.append(a[None])
        elif a.ndim == like.ndim + 1 and a.shape[:-1] == like.shape:      # a vector image (e.g. RGB png)
            channels.append(np.moveaxis(a, -1, 0))
        else:
            return None
    return np.concatenate(channels).astype(np.float32) if channels else None


def image_evidence_off(ds: RawDataset, regions: bool) -> str:
    """Why the image evidence cannot judge this dataset ('' when it can): as the edge repair, one foreground class
    of a label map."""
    if regions:
        return "region-based labels"
    if len(ds.foreground_labels) != 1:
        return f"{len(ds.foreground_labels)} foreground classes (one is supported)"
    return ""


def _problems(ds: RawDataset) -> list[tuple[str, Optional[tuple[int, ...]]]]:
    """What is judged: [("labels", None)] for a label map (softmax channels = label values); for a region-based
    dataset one (region name, its label values) per sigmoid channel, in nnU-Net's channel order (dataset.json's
    labels without background and ignore)."""
    if not any(isinstance(v, tuple) for v in ds.labels.values()):
        return [("labels", None)]
    problems = []
    for name, v in ds.labels.items():
        members = tuple(int(i) for i in (v if isinstance(v, tuple) else (v,)))
        if name == "ignore" or set(members) == {0}:
            continue
        problems.append((name, members))
    return problems


def run_label_qa(run_dir: Path, raw_dataset_dir: Path, out_dir: Path, folds: Sequence[int] = FOLDS,
                 clean_labels: Optional[Path] = None, n_overlays: int = 5, k: float = 3.0, margin: float = 0.25,
                 ignore_dataset_id: Optional[int] = None, image_evidence: bool = True, progress=print) -> dict:
    """See the module docstring; returns the summary. ``image_evidence=False``: flags and ranking from the held-out
    score alone."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    ds = load_raw_dataset(raw_dataset_dir)
    problems = _problems(ds)
    regions = problems[0][1] is not None
    dataset_id, _ = dataset_id_and_name(ds.folder)
    files = held_out_files(run_dir, folds, dataset_id)
    missing = sorted(set(ds.training_cases) - set(files))
    if missing:
        raise SVLInputError(run_dir, f"{len(missing)} training cases have no held-out prediction (e.g. "
                                     f"{missing[:3]})", "train all 5 folds with --npz (or pass --folds)")
    cases = sorted(files)
    out_dir.mkdir(parents=True, exist_ok=True)
    ignore = ds.ignore_label
    evidence_off = "turned off (--no-image-evidence)" if not image_evidence else image_evidence_off(ds, regions)

    def load(case: str) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray, sitk.Image]:
        """([(probabilities, label) per problem], the label (ignore = −1), its image)."""
        label, img = _read_label(ds, case)
        lab = _class_channels(label, ignore)
        p = _load_probs(files[case], lab)
        if not regions:
            return [(p, lab)], lab, img
        if p.shape[0] != len(problems):
            raise SVLInputError(files[case], f"holds {p.shape[0]} probability channels, the dataset's "
                                             f"{len(problems)} regions need one each",
                                "re-run the validation of a run trained on this dataset with --val --npz")
        return [region_problem(p[r], lab, members) for r, (_, members) in enumerate(problems)], lab, img

    # pass 1: a temperature per problem (the label map, or each region) on a class-balanced voxel sample (one case
    # in memory at a time)
    progress(f"[label-qa] {len(cases)} cases: fitting the temperature")
    sample_lp = [[] for _ in problems]
    sample_y = [[] for _ in problems]
    for i, case in enumerate(cases):
        views, _, _ = load(case)
        for j, (p, lab) in enumerate(views):
            lp, y = balanced_sample([p], [lab], per_class=max(2000, 40000 // len(cases)),
                                    rng=np.random.default_rng(i))
            sample_lp[j].append(lp)
            sample_y[j].append(y)
    temperatures = [fit_temperature(np.concatenate(lp), np.concatenate(y)) for lp, y in zip(sample_lp, sample_y)]
    # pass 2: per-class thresholds of the calibrated probabilities
    sums = [0] * len(problems)
    counts = [0] * len(problems)
    for case in cases:
        views, _, _ = load(case)
        for j, (p, lab) in enumerate(views):
            s_c, n_c = class_sums(calibrate(p, temperatures[j]), lab)
            sums[j], counts[j] = sums[j] + s_c, counts[j] + n_c
    with np.errstate(invalid="ignore", divide="ignore"):
        thresholds = [np.where(n > 0, t / np.maximum(n, 1), np.nan) for t, n in zip(sums, counts)]
    # pass 3: per case
    progress(f"[label-qa] temperature {[round(t, 3) for t in temperatures]}, thresholds "
             f"{[np.round(t, 3).tolist() for t in thresholds]}: scoring")
    scores, confusion, volumes, fits = {}, [None] * len(problems), {}, {}
    vox_pos, vox_neg = np.zeros(101, np.int64), np.zeros(101, np.int64)
    noisy_truth: dict[str, bool] = {}
    for case in cases:
        views, lab, img = load(case)
        suspicion = issue = None
        per_class: dict = {}
        volumes[case] = {}
        for j, (p, view_label) in enumerate(views):
            ratios = volume_ratios(p, view_label)
            volumes[case].update({problems[j][0]: ratios[1]} if regions else ratios)
            q = calibrate(p, temperatures[j])
            s_j, i_j = voxel_suspicion(q, view_label, thresholds[j])
            suspicion = s_j if suspicion is None else np.maximum(suspicion, s_j)
            issue = i_j if issue is None else issue | i_j
            one = case_score(case, q, view_label, i_j).per_class
            per_class.update({problems[j][0]: v for v in one.values()} if regions else one)
            cm = confusion_counts(q, view_label)
            confusion[j] = cm if confusion[j] is None else confusion[j] + cm
        scores[case] = CaseScore(case, 1.0 - (min(per_class.values()) if per_class else 1.0), per_class,
                                 int(issue.sum()), int((lab > 0).sum()))
        if not evidence_off:
            image = _image_channels(ds, case, lab)
            if image is not None:
                fits[case] = label_edge_fit(image, lab, spacing=img.GetSpacing()[::-1])
        write_image_like(suspicion, img, out_dir / f"{case}_suspicion{ds.file_ending}")
        write_image_like(issue.astype(np.uint8), img, out_dir / f"{case}_issues{ds.file_ending}")
        if clean_labels is not None:
            clean, _ = _read_label(ds, case, Path(clean_labels))
            clean = _class_channels(clean, ignore)
            wrong = (clean != lab) & (lab >= 0)
            noisy_truth[case] = bool(wrong.any())
            bins = np.clip((suspicion[lab >= 0] * 100).astype(np.int64), 0, 100)
            vox_pos += np.bincount(bins[wrong[lab >= 0]], minlength=101)
            vox_neg += np.bincount(bins[~wrong[lab >= 0]], minlength=101)

    flagged, confirmed, absent = qa_case_flags({c: s.noise_score for c, s in scores.items()}, fits, k=k,
                                               margin=margin)
    ranked = sorted(scores.values(), key=lambda s: ranking_key(s.noise_score, s.case in confirmed, s.case in absent))
    verdict = {c: "edge absent" for c in absent} | {c: "confirmed" for c in confirmed}
    columns = [name for name, _ in problems] if regions else list(range(1, len(thresholds[0])))
    rows = [{"rank": i + 1, "case": s.case, "noise_score": round(s.noise_score, 4), "flagged": s.case in flagged,
             **{(f"dice_{c}" if regions else f"dice_class_{c}"): round(s.per_class[c], 4) if c in s.per_class else ""
                for c in columns},
             "issue_voxels": s.issue_voxels, "foreground_voxels": s.foreground_voxels,
             **{(f"volume_ratio_{c}" if regions else f"volume_ratio_class_{c}"): float(f"{volumes[s.case][c]:.4g}")
                for c in columns},
             **({"edge_offset": _rounded(fits[s.case].offset) if s.case in fits else "",
                 "edge_step_t": _rounded(fits[s.case].step_t) if s.case in fits else "",
                 "image": verdict.get(s.case, "")} if not evidence_off else {})}
            for i, s in enumerate(ranked)]
    atomic_write_bytes(out_dir / "label_qa.csv", csv_bytes(rows))
    if regions:
        table = [{"given \\ held-out": f"{name}: {side}", "outside": int(confusion[j][r, 0]),
                  "inside": int(confusion[j][r, 1])}
                 for j, (name, _) in enumerate(problems) for r, side in enumerate(("outside", "inside"))]
    else:
        names = {int(v): n for n, v in ds.labels.items() if n != "ignore"}
        table = [{"given \\ held-out": names.get(r, r), **{names.get(c, c): int(confusion[0][r, c])
                                                            for c in range(confusion[0].shape[1])}}
                 for r in range(confusion[0].shape[0])]
    atomic_write_bytes(out_dir / "confusion.csv", csv_bytes(table))
    listed = [[None if np.isnan(t) else float(t) for t in ts] for ts in thresholds]
    summary = {"run_dir": str(run_dir), "dataset": ds.name, "folds": list(folds), "cases": len(cases),
               # label maps: one temperature and a threshold per class; regions: per region (outside, inside)
               "temperature": {n: t for (n, _), t in zip(problems, temperatures)} if regions else temperatures[0],
               "class_thresholds": {n: t for (n, _), t in zip(problems, listed)} if regions else listed[0],
               **({"regions": [n for n, _ in problems]} if regions else {}),
               "flag_rule": {"k": k, "margin": margin}, "flagged": sorted(flagged),
               "image_evidence": {"off": evidence_off, "fitted": len(fits), "confirmed": sorted(confirmed),
                                  "edge_absent": sorted(absent)}}
    if clean_labels is not None:
        from nnunet_svl.diagnostics.quality import auroc_from_histograms

        truth = [noisy_truth[c] for c in cases]
        summary["noisy_cases"] = sorted(c for c in cases if noisy_truth[c])
        # the ranking label-qa writes (image verdict, then score), and the held-out score alone
        position = {s.case: i for i, s in enumerate(ranked)}
        summary["case_auroc"] = auroc([-position[c] for c in cases], truth)
        summary["case_auroc_held_out_score"] = auroc([scores[c].noise_score for c in cases], truth)
        summary["voxel_auroc"] = auroc_from_histograms(vox_pos, vox_neg, high_is_positive=True)
        top = [s.case for s in ranked[:max(1, len(summary["noisy_cases"]))]]
        summary["precision_at_k"] = sum(noisy_truth[c] for c in top) / len(top)
        # the volume ratio as a case score: its largest |log| over the classes (reported, not used for flags)
        summary["volume_ratio_case_auroc"] = auroc([max(abs(np.log(v)) for v in volumes[c].values()) if volumes[c]
                                                    else 0.0 for c in cases], truth)
        tp = len(flagged & set(summary["noisy_cases"]))
        summary["flag_precision"] = tp / len(flagged) if flagged else None
        summary["flag_recall"] = tp / len(summary["noisy_cases"]) if summary["noisy_cases"] else None
    atomic_write_json(out_dir / "summary.json", summary)
    for s in ranked[:n_overlays]:
        _overlay_png(ds, s.case, out_dir / f"{s.case}_issues{ds.file_ending}", out_dir / "overlays" / f"{s.case}.png")
    if ignore_dataset_id is not None:
        summary["ignore_dataset"] = str(write_ignore_dataset(ds, out_dir, sorted(flagged), ignore_dataset_id))
        atomic_write_json(out_dir / "summary.json", summary)
    progress(f"[label-qa] {len(flagged)} of {len(cases)} cases flagged; wrote {out_dir}")
    return summary


def _rounded(v: float) -> object:
    return round(float(v), 3) if np.isfinite(v) else ""


def _overlay_png(ds: RawDataset, case: str, issues_path: Path, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    label, _ = _read_label(ds, case)
    issues = sitk.GetArrayFromImage(sitk.ReadImage(str(issues_path)))
    image = sitk.GetArrayFromImage(sitk.ReadImage(str(ds.image_paths(case)[0])))
    if label.ndim == 2:
        label, issues, image = label[None], issues[None], image[None]
    weight = (issues > 0).reshape(issues.shape[0], -1).sum(1) + (label > 0).reshape(label.shape[0], -1).sum(1) * 1e-6
    z = int(np.argmax(weight))
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.imshow(image[z], cmap="gray")
    if (label[z] > 0).any():
        ax.contour(label[z] > 0, levels=[0.5], colors="yellow", linewidths=1)
    ax.imshow(np.ma.masked_where(issues[z] == 0, issues[z]), cmap="autumn", alpha=0.6, vmin=0, vmax=1)
    ax.set_title(f"{case} slice {z}: yellow given label, red label issues", fontsize=8)
    ax.axis("off")
    save_figure_png(fig, path)


def write_ignore_dataset(ds: RawDataset, qa_dir: Path, flagged: Sequence[str], target_id: int,
                         link_images: bool = False) -> Path:
    """A NEW raw dataset: the given one with the label-issue voxels of the flagged cases set to nnU-Net's ignore label
    (added to dataset.json as the highest value if the dataset has none and some voxel is ignored: with nothing to
    ignore the new dataset trains exactly as the given one, since an ignore label switches nnU-Net's loss and sampling
    to its sparse-annotation mode). The given dataset is not modified."""
    raw_root = ds.folder.parent
    if any(raw_root.glob(f"Dataset{int(target_id):03d}_*")):
        raise SVLInputError(raw_root, f"dataset id {target_id} is already used", "pick another --ignore-dataset-id")
    _, name = dataset_id_and_name(ds.folder)
    target = raw_root / f"Dataset{int(target_id):03d}_{re.sub(r'[^A-Za-z0-9_-]', '', name)}_qaignore"
    dj = json.loads(json.dumps(ds.dataset_json))
    ignore = ds.ignore_label
    n_ignored = 0
    if ignore is None:
        ignore = max(v for v in ds.label_values) + 1
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=raw_root))
    try:
        for sub in ("imagesTr", "labelsTr"):
            (tmp / sub).mkdir()
        for case in ds.training_cases:
            for p in ds.image_paths(case):
                if link_images:
                    os.symlink(p.resolve(), tmp / "imagesTr" / p.name)
                else:
                    shutil.copyfile(p, tmp / "imagesTr" / p.name)
            label, img = _read_label(ds, case)
            if case in flagged:
                issues = sitk.GetArrayFromImage(sitk.ReadImage(str(qa_dir / f"{case}_issues{ds.file_ending}")))
                label = np.where(issues > 0, ignore, label).astype(label.dtype)
                n_ignored += int((issues > 0).sum())
            write_image_like(label, img, tmp / "labelsTr" / f"{case}{ds.file_ending}")
        for split_dir in ("imagesTs", "labelsTs"):
            if (ds.folder / split_dir).is_dir():
                shutil.copytree(ds.folder / split_dir, tmp / split_dir, symlinks=True)
        if ds.ignore_label is None and n_ignored:
            dj["labels"] = {**dj["labels"], "ignore": ignore}
        dj["svl_label_qa"] = {"source": ds.folder.name, "flagged": list(flagged), "qa_dir": str(qa_dir),
                              "ignored_voxels": n_ignored}
        atomic_write_json(tmp / "dataset.json", dj)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
