"""Plans variants made from nnU-Net's own plans (no re-preprocessing needed).

A narrow network keeps nnU-Net's topology, patch size and preprocessing but divides the number of features per stage,
so hundreds of iterations take minutes on a CPU (benchmark and demo presets). The copy keeps the configurations'
``data_identifier``, so it reuses the already preprocessed data; train and predict with ``-p <target_plans>``.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

from nnunet_svl.runtime.atomic_io import atomic_write_json
from nnunet_svl.runtime.errors import SVLInputError


def find_preprocessed_dataset(preprocessed_root: Path, dataset: str | int) -> Path:
    key = str(dataset)
    if key.isdigit():
        matches = sorted(preprocessed_root.glob(f"Dataset{int(key):03d}_*"))
    else:
        matches = [preprocessed_root / key] if (preprocessed_root / key).is_dir() else []
    if len(matches) != 1:
        raise SVLInputError(preprocessed_root, f"no single preprocessed dataset matches {dataset!r}",
                            "run nnUNetv2_plan_and_preprocess for it first")
    return matches[0]


def write_narrow_plans(preprocessed_root: Path, dataset: str | int, source_plans: str = "nnUNetPlans",
                       width_divisor: int = 4, max_features: int = 128,
                       target_plans: str = "nnUNetPlans_narrow") -> Path:
    folder = find_preprocessed_dataset(Path(preprocessed_root), dataset)
    src = folder / f"{source_plans}.json"
    if not src.is_file():
        raise SVLInputError(src, "plans file not found", "run nnUNetv2_plan_and_preprocess first")
    if width_divisor < 1:
        raise SVLInputError(None, "--width-divisor must be >= 1", "pass a positive integer")
    plans = json.loads(src.read_text())
    new = copy.deepcopy(plans)
    new["plans_name"] = target_plans
    for cfg in new["configurations"].values():
        kwargs = cfg.get("architecture", {}).get("arch_kwargs")
        if kwargs and "features_per_stage" in kwargs:
            kwargs["features_per_stage"] = [max(4, min(max_features, int(f) // width_divisor))
                                            for f in kwargs["features_per_stage"]]
    dst = folder / f"{target_plans}.json"
    atomic_write_json(dst, new)
    return dst
