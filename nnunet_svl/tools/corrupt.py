"""``nnunet-svl corrupt``: a NEW nnU-Net raw dataset whose training labels carry simulated annotation noise
(docs/METHOD.md §4; never applied to test labels).

Layout of ``Dataset{target_id:03d}_{name}``:
    dataset.json          the source's, plus ``"svl_noise"`` describing the corruption
    imagesTr/             the source images (copied, or symlinked with ``link_images``)
    labelsTr/             noisy labels for round(ρ·n) seeded-random cases, the clean label file for the rest
    labelsTr_clean/       the clean training labels (for evaluating label repair; nnU-Net ignores this folder)
    imagesTs/, labelsTs/  copied untouched
    noise_manifest.json   protocol, parameters, ratio, seed, source, and per case {noisy, operations, Dice per class}

Dice convention: Dice(noisy, clean) of a class absent from both labels is 1.0 (see :func:`nnunet_svl.tools.metrics.dice`).
The number of noisy cases is round-half-up(ρ·n). Per-case randomness is seeded by (seed, case name), so a case's
corruption does not depend on which other cases exist. The source is only read; the target is built in a hidden
temporary folder beside it and renamed into place at the end (removed on any error).
"""
from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import Optional, Union

import numpy as np
import SimpleITK as sitk

from nnunet_svl.runtime.atomic_io import atomic_write_json
from nnunet_svl.runtime.errors import SVLInputError
from nnunet_svl.tools.metrics import dice
from nnunet_svl.tools.noise import PROTOCOLS, corrupt_label
from nnunet_svl.tools.raw_dataset import (RawDataset, copy_geometry, dataset_id_and_name, find_dataset_folder,
                                    load_raw_dataset, read_sitk, validate_raw_dataset)

MANIFEST = "noise_manifest.json"
CLEAN_LABELS = "labelsTr_clean"
DICE_CONVENTION = "Dice(noisy, clean) per class; 1.0 when the class is absent from both labels"


def _jsonable(value):
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def default_target_name(source_name: str, protocol: str, ratio: float) -> str:
    """e.g. 'SVLDemo_mt_rho50' for ρ = 0.5 ('rho12p5' for 0.125)."""
    return f"{source_name}_{protocol}_rho{ratio * 100:g}".replace(".", "p")


def _check_protocol(protocol: str, protocol_params: dict) -> None:
    """Unknown protocol or parameters the protocol rejects → SVLInputError (dry run on a tiny mask)."""
    if protocol not in PROTOCOLS:
        raise SVLInputError(None, f"unknown noise protocol {protocol!r}",
                            f"use one of: {', '.join(PROTOCOLS)}")
    probe = np.zeros((5, 5, 5), dtype=bool)
    probe[2, 2, 2] = True
    try:
        PROTOCOLS[protocol](probe, np.random.default_rng(0), **protocol_params)
    except (TypeError, ValueError) as e:
        raise SVLInputError(None, f"protocol {protocol!r} rejects the parameters {protocol_params}: {e}",
                            "see the protocol's signature in nnunet_svl/noise.py") from None


def _case_rng(seed: int, case: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(case.encode("utf-8"))])


def _copy(src: Path, dst: Path, link: bool) -> None:
    if link:
        os.symlink(src.resolve(), dst)
    else:
        shutil.copyfile(src, dst)


def _corrupt_case(src: RawDataset, case: str, out: Path, protocol: str, seed: int, classes: list[int],
                  nested: bool, protocol_params: dict) -> dict:
    clean, clean_image = read_sitk(src.label_path(case))
    if not np.issubdtype(clean.dtype, np.integer):
        raise SVLInputError(src.label_path(case), f"label has dtype {clean.dtype}, not an integer type",
                            "save labels with an integer dtype (e.g. uint8)")
    noisy, info = corrupt_label(clean, protocol, _case_rng(seed, case), classes=classes,
                                ignore_label=src.ignore_label, nested=nested, **protocol_params)
    sitk.WriteImage(copy_geometry(noisy.astype(clean.dtype), clean_image), str(out), useCompression=True)
    return {"noisy": True, "operations": info["classes"],
            "dice": {str(c): dice(noisy == c, clean == c) for c in classes}}


def corrupt_dataset(source: Union[str, int, Path], target_id: int, protocol: str, ratio: float = 0.5, seed: int = 0,
                    raw_root: Optional[Path] = None, target_name: Optional[str] = None,
                    classes: Optional[list[int]] = None, link_images: bool = False, nested: bool = False,
                    **protocol_params) -> Path:
    """Write the corrupted copy of ``source`` (id, name or path) and return its folder (see the module docstring).

    ``raw_root``: where ids/names are looked up and the target is written (default ``$nnUNet_raw``, else the
    source's parent folder). ``classes``: foreground labels to corrupt (default all). ``nested``: corrupt ``label >=
    c`` instead of ``label == c`` (for classes nested by value, see :func:`nnunet_svl.tools.noise.corrupt_label`).
    ``protocol_params`` go to the protocol function (e.g. ``side_range=(3, 9)``).
    """
    if raw_root is None and os.environ.get("nnUNet_raw"):
        raw_root = Path(os.environ["nnUNet_raw"])
    src_folder = find_dataset_folder(source, raw_root)
    if raw_root is None:
        raw_root = src_folder.parent
    raw_root = Path(raw_root)
    _, src_name = dataset_id_and_name(src_folder)

    if not 0.0 <= float(ratio) <= 1.0:
        raise SVLInputError(None, f"ratio {ratio} is outside [0, 1]", "pass the fraction of noisy cases, e.g. 0.5")
    _check_protocol(protocol, protocol_params)
    if not 1 <= int(target_id) <= 999:
        raise SVLInputError(None, f"target id {target_id} is outside 1..999", "pick a three-digit id")
    name = target_name or default_target_name(src_name, protocol, float(ratio))
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise SVLInputError(None, f"dataset name {name!r} may only contain letters, digits, '-' and '_'",
                            "pass another --target-name")
    existing = sorted(raw_root.glob(f"Dataset{int(target_id):03d}_*")) if raw_root.is_dir() else []
    if existing:
        raise SVLInputError(existing[0], f"dataset id {target_id} is already used",
                            "pick another --target-id or remove that folder")

    src = load_raw_dataset(src_folder)
    validate_raw_dataset(src, check_content=True)
    fg = src.foreground_labels
    targets = fg if classes is None else sorted({int(c) for c in classes})
    if not targets or any(c not in fg for c in targets):
        raise SVLInputError(src_folder / "dataset.json", f"classes {targets} are not foreground labels of the "
                                                         f"dataset (foreground labels: {fg})",
                            "pass --classes from the labels declared in dataset.json")

    cases = src.training_cases
    n_noisy = math.floor(float(ratio) * len(cases) + 0.5)
    pick = np.random.default_rng(int(seed)).choice(len(cases), size=n_noisy, replace=False)
    noisy_cases = {cases[i] for i in pick}

    target = raw_root / f"Dataset{int(target_id):03d}_{name}"
    raw_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=raw_root))
    try:
        for sub in ("imagesTr", "labelsTr", CLEAN_LABELS):
            (tmp / sub).mkdir()
        per_case: dict[str, dict] = {}
        for case in cases:
            for p in src.image_paths(case):
                _copy(p, tmp / "imagesTr" / p.name, link_images)
            label = src.label_path(case)
            shutil.copyfile(label, tmp / CLEAN_LABELS / label.name)
            if case in noisy_cases:
                per_case[case] = _corrupt_case(src, case, tmp / "labelsTr" / label.name, protocol, seed, targets,
                                               nested, protocol_params)
            else:
                shutil.copyfile(label, tmp / "labelsTr" / label.name)
                per_case[case] = {"noisy": False, "dice": {str(c): 1.0 for c in targets}}
        for split_dir in ("imagesTs", "labelsTs"):
            if (src_folder / split_dir).is_dir():
                shutil.copytree(src_folder / split_dir, tmp / split_dir, symlinks=True)

        params = {k: _jsonable(v) for k, v in protocol_params.items()}
        description = {"source": src_folder.name, "protocol": protocol, "params": params, "ratio": float(ratio),
                       "seed": int(seed), "classes": targets, "nested": bool(nested), "n_noisy": n_noisy,
                       "manifest": MANIFEST, "clean_labels": CLEAN_LABELS}
        dataset_json = dict(src.dataset_json)
        dataset_json["svl_noise"] = description
        atomic_write_json(tmp / "dataset.json", dataset_json)
        manifest = {**description, "source_path": str(src_folder.resolve()), "n_cases": len(cases),
                    "dice_convention": DICE_CONVENTION, "cases": per_case}
        atomic_write_json(tmp / MANIFEST, manifest)
        if any(raw_root.glob(f"Dataset{int(target_id):03d}_*")):
            raise SVLInputError(target, "a dataset with this id appeared while corrupting", "pick another id")
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
