"""``nnunet-svl evaluate``: Dice, IoU, HD95 and ASSD (mm) of a folder of predictions against clean reference labels
(docs/METHOD.md §1.1, "Evaluation"). Metric definitions and empty-mask conventions: :mod:`nnunet_svl.tools.metrics`.

- Cases are paired by file name; every reference case needs a prediction, extra predictions are ignored (and listed
  in ``result["warnings"]``).
- A prediction must have its reference's geometry (shape, spacing, origin, direction within :data:`GEOMETRY_TOL`).
- Classes come from ``labels``, else from dataset.json's "labels" (foreground only; a region, i.e. a list of label
  values, is evaluated as the union of its labels), else from the label values found in the references (named by
  their value).
- Reference voxels equal to the ignore label (``ignore_label``, else dataset.json's "ignore") are removed from both
  masks before any metric is computed, so they count neither as foreground nor as surface.
- An image with exactly one axis of size 1 (a 2-D case stored as a 3-D file) is evaluated as 2-D, so the top and
  bottom faces of the slab do not enter the surface distances.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import SimpleITK as sitk

from nnunet_svl.runtime.atomic_io import atomic_write_json
from nnunet_svl.runtime.errors import SVLInputError
from nnunet_svl.runtime.jsonio import read_json
from nnunet_svl.tools.metrics import EMPTY_MASK_CONVENTIONS, METRIC_NAMES, binary_metrics

GEOMETRY_TOL = 1e-4
_MISSING_NAMES_SHOWN = 3


def _read_dataset_json(path: Path) -> dict:
    data = read_json(path, "dataset.json", fix_missing="pass the dataset.json of the dataset the references come from",
                     fix_invalid="repair the file or pass the dataset's original dataset.json")
    if not isinstance(data.get("labels"), dict):
        raise SVLInputError(path, "has no \"labels\" mapping", 'add "labels": {"background": 0, "<name>": 1, ...}')
    return data


def _label_values(name: str, value: Any, source: Path | str) -> tuple[int, ...]:
    values = value if isinstance(value, (list, tuple)) else [value]
    if not values or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise SVLInputError(source, f"label {name!r} has value {value!r}, not an integer or a list of integers",
                            "give every label an integer value (or a list of integers for a region)")
    return tuple(int(v) for v in values)


def _foreground_classes(labels: Mapping[str, Any], source: Path | str) -> dict[str, tuple[int, ...]]:
    """{class name: label values} without background (values all 0) and without nnU-Net's "ignore" entry."""
    classes = {}
    for name, value in labels.items():
        values = _label_values(name, value, source)
        if name != "ignore" and any(v != 0 for v in values):
            classes[name] = values
    if not classes:
        raise SVLInputError(source, "no foreground label",
                            'list the foreground labels, e.g. {"background": 0, "tumor": 1}')
    return classes


def _case_files(folder: Path, file_ending: str, role: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise SVLInputError(folder, f"{role} folder does not exist", f"pass the folder holding the {role} files")
    return {p.name[: -len(file_ending)]: p for p in sorted(folder.iterdir())
            if p.is_file() and p.name.endswith(file_ending) and not p.name.startswith(".")}


def _read_image(path: Path) -> sitk.Image:
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as e:
        problem = str(e).strip().splitlines()[-1] if str(e).strip() else "unreadable"
        raise SVLInputError(path, f"cannot be read as an image ({problem})",
                            "replace it with a valid image file (e.g. re-export the segmentation)")


def _geometry(image: sitk.Image) -> dict[str, tuple]:
    return {"shape": tuple(image.GetSize()), "spacing": tuple(image.GetSpacing()),
            "origin": tuple(image.GetOrigin()), "direction": tuple(image.GetDirection())}


def _check_same_geometry(pred: sitk.Image, ref: sitk.Image, pred_path: Path, ref_path: Path) -> None:
    pg, rg = _geometry(pred), _geometry(ref)
    for key in ("shape", "spacing", "origin", "direction"):
        same = pg[key] == rg[key] if key == "shape" else (
            len(pg[key]) == len(rg[key]) and np.allclose(pg[key], rg[key], rtol=0.0, atol=GEOMETRY_TOL))
        if not same:
            raise SVLInputError(pred_path, f"{key} {pg[key]} differs from the reference {ref_path.name} ({rg[key]})",
                                "write the prediction on the reference's grid (nnUNetv2_predict does so when run on "
                                "the reference cases' images) and check that the two folders hold the same cases")


def _array_and_spacing(image: sitk.Image, path: Path) -> tuple[np.ndarray, tuple[float, ...]]:
    """Array in numpy axis order with the matching spacing; a single size-1 axis is dropped (2-D case as 3-D file)."""
    array = sitk.GetArrayFromImage(image)
    spacing = tuple(float(s) for s in reversed(image.GetSpacing()))
    if array.ndim == 3 and array.shape.count(1) == 1:
        axis = array.shape.index(1)
        array = np.squeeze(array, axis=axis)
        spacing = spacing[:axis] + spacing[axis + 1:]
    if array.ndim not in (2, 3):
        raise SVLInputError(path, f"is a {image.GetDimension()}-D image of size {image.GetSize()}",
                            "evaluate 2-D or 3-D label maps (one label value per voxel)")
    return array, spacing


def _classes_found_in_references(ref_files: Mapping[str, Path], ignore_label: int | None) -> dict[str, tuple[int, ...]]:
    values: set[int] = set()
    for path in ref_files.values():
        values.update(int(v) for v in np.unique(sitk.GetArrayFromImage(_read_image(path))))
    values -= {0, ignore_label}
    if not values:
        raise SVLInputError(next(iter(ref_files.values())).parent, "the references hold no foreground label",
                            "pass the reference label folder, or give the labels with --dataset-json")
    return {str(v): (v,) for v in sorted(values)}


def _summary(values: Sequence[float]) -> dict[str, float | int]:
    defined = [v for v in values if not math.isnan(v)]
    return {"mean": float(np.mean(defined)) if defined else math.nan,
            "sd": float(np.std(defined)) if defined else math.nan,
            "n": len(defined), "n_undefined": len(values) - len(defined)}


def evaluate_folders(pred_dir: Path, ref_dir: Path, labels: Mapping[str, int | Sequence[int]] | None = None,
                     dataset_json: Path | None = None, file_ending: str = ".nii.gz",
                     ignore_label: int | None = None) -> dict:
    """Per-case, per-class and mean Dice / IoU / HD95 / ASSD of ``pred_dir`` against ``ref_dir`` (module docstring).

    Returns {"per_case": {case: {class: {metric: value}}}, "per_class": {class: {metric: {"mean", "sd", "n",
    "n_undefined"}}}, "mean": {metric: mean of the per-class means}, "classes": {class: [label values]},
    "ignore_label", "n_cases", "spacing_units": "mm", "conventions", "warnings": [...]}. Undefined values are NaN;
    :func:`write_results_json` writes them as null. "sd" is the population standard deviation over cases.
    """
    pred_dir, ref_dir = Path(pred_dir), Path(ref_dir)
    dataset = _read_dataset_json(Path(dataset_json)) if dataset_json is not None else None
    if ignore_label is None and dataset is not None and "ignore" in dataset["labels"]:
        ignore_label = _label_values("ignore", dataset["labels"]["ignore"], dataset_json)[0]

    ref_files = _case_files(ref_dir, file_ending, "reference")
    if not ref_files:
        hint = ""
        if dataset is not None and dataset.get("file_ending", file_ending) != file_ending:
            hint = f" (dataset.json says file_ending {dataset['file_ending']!r})"
        raise SVLInputError(ref_dir, f"no reference files ending in {file_ending!r}{hint}",
                            "pass the reference label folder and the file ending its files use (--file-ending)")
    pred_files = _case_files(pred_dir, file_ending, "prediction")
    missing = [case for case in ref_files if case not in pred_files]
    if missing:
        shown = ", ".join(f"{c}{file_ending}" for c in missing[:_MISSING_NAMES_SHOWN])
        more = f" and {len(missing) - _MISSING_NAMES_SHOWN} more" if len(missing) > _MISSING_NAMES_SHOWN else ""
        raise SVLInputError(pred_dir / f"{missing[0]}{file_ending}",
                            f"prediction missing for {len(missing)} of {len(ref_files)} reference cases "
                            f"({shown}{more})",
                            f"predict every case of {ref_dir}, or evaluate against a reference folder holding only "
                            "the predicted cases")
    notes = []
    extra = sorted(set(pred_files) - set(ref_files))
    if extra:
        notes.append(f"{len(extra)} prediction(s) without a reference ignored: "
                        + ", ".join(f"{c}{file_ending}" for c in extra))

    if labels is not None:
        classes = _foreground_classes(labels, "labels argument")
    elif dataset is not None:
        classes = _foreground_classes(dataset["labels"], dataset_json)
    else:
        classes = _classes_found_in_references(ref_files, ignore_label)

    per_case: dict[str, dict[str, dict[str, float]]] = {}
    for case, ref_path in ref_files.items():
        pred_path = pred_files[case]
        ref_image, pred_image = _read_image(ref_path), _read_image(pred_path)
        _check_same_geometry(pred_image, ref_image, pred_path, ref_path)
        ref, spacing = _array_and_spacing(ref_image, ref_path)
        pred, _ = _array_and_spacing(pred_image, pred_path)
        keep = np.ones(ref.shape, dtype=bool) if ignore_label is None else ref != ignore_label
        per_case[case] = {name: binary_metrics(np.isin(pred, values) & keep, np.isin(ref, values) & keep, spacing)
                          for name, values in classes.items()}

    per_class = {name: {metric: _summary([per_case[case][name][metric] for case in per_case])
                        for metric in METRIC_NAMES} for name in classes}
    mean = {}
    for metric in METRIC_NAMES:
        class_means = [per_class[name][metric]["mean"] for name in classes
                       if not math.isnan(per_class[name][metric]["mean"])]
        mean[metric] = float(np.mean(class_means)) if class_means else math.nan
    return {"per_case": per_case, "per_class": per_class, "mean": mean,
            "classes": {name: list(values) for name, values in classes.items()}, "ignore_label": ignore_label,
            "n_cases": len(per_case), "spacing_units": "mm", "conventions": EMPTY_MASK_CONVENTIONS,
            "warnings": notes}


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    return obj


def write_results_json(result: dict, path: Path) -> None:
    """Write ``result`` atomically as JSON, undefined (NaN) values as null."""
    atomic_write_json(path, _nan_to_none(result))


def case_means(result: Mapping | Path, metric: str = "dice") -> dict[str, float]:
    """{case: mean of ``metric`` over the foreground classes} of an :func:`evaluate_folders` result, or of the
    ``svl_evaluation.json`` it was written to [ours]. Undefined values (NaN, written as null) are skipped; a case with
    none left is NaN. The one place the benchmark and its scripts turn an evaluation into one number per case."""
    if not isinstance(result, Mapping):
        result = read_json(Path(result), what="evaluation", fix_missing="run `nnunet-svl evaluate` on the predictions")
    means = {}
    for case, by_class in result["per_case"].items():
        values = [float(m[metric]) for m in by_class.values() if m[metric] is not None and math.isfinite(m[metric])]
        means[case] = float(np.mean(values)) if values else float("nan")
    return means


def _fmt(value: float, decimals: int) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{decimals}f}"


_DECIMALS = {"dice": 4, "iou": 4, "hd95": 2, "assd": 2}
_HEADERS = {"dice": "Dice", "iou": "IoU", "hd95": "HD95 (mm)", "assd": "ASSD (mm)"}


def format_table(result: dict) -> str:
    """Fixed-width table: one row per case and class, then per-class mean ± sd rows and the mean over classes."""
    rows = [(case, name, *(_fmt(m[metric], _DECIMALS[metric]) for metric in METRIC_NAMES))
            for case, by_class in result["per_case"].items() for name, m in by_class.items()]
    summary_rows = []
    for name, by_metric in result["per_class"].items():
        cells = []
        for metric in METRIC_NAMES:
            s = by_metric[metric]
            cell = f"{_fmt(s['mean'], _DECIMALS[metric])} ± {_fmt(s['sd'], _DECIMALS[metric])}"
            cells.append(cell + (f" ({s['n_undefined']} n/a)" if s["n_undefined"] else ""))
        summary_rows.append(("mean ± sd", name, *cells))
    summary_rows.append(("mean of classes", "", *(_fmt(result["mean"][m], _DECIMALS[m]) for m in METRIC_NAMES)))

    header = ("case", "class", *(_HEADERS[m] for m in METRIC_NAMES))
    widths = [max(len(str(row[i])) for row in [header, *rows, *summary_rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(str(cell).ljust(w) if i < 2 else str(cell).rjust(w)
                         for i, (cell, w) in enumerate(zip(row, widths))).rstrip()

    rule = "-" * len(line(["-" * w for w in widths]))
    out = [line(header), rule, *(line(r) for r in rows), rule, *(line(r) for r in summary_rows)]
    out.append(f"distances in {result['spacing_units']}; {result['conventions']}")
    out.extend(f"warning: {w}" for w in result.get("warnings", []))
    return "\n".join(out)
