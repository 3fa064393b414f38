"""Raw nnU-Net datasets in the shapes nnU-Net accepts besides the plain demo: several input channels, two foreground
classes, an ignore label, BraTS-style regions, a single training case; and a cascade plans variant.

Built from the demo phantoms (``nnunet_svl.tools.demo_data.make_phantom``) and written with nnU-Net's own
``generate_dataset_json``, so the files are exactly what a user's converted dataset looks like.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
from scipy import ndimage

from nnunet_svl.tools.demo_data import BASE_ORIGIN, FILE_ENDING, make_phantom, write_phantom_image

IGNORE_VALUE = 3


def ignore_slab(label: np.ndarray) -> np.ndarray:
    """Mask of the three z-slices through the lesion's centre of mass: an annotator skipped them."""
    z = int(round(ndimage.center_of_mass(label > 0)[0])) if label.any() else label.shape[0] // 2
    mask = np.zeros(label.shape, dtype=bool)
    mask[max(0, z - 1):z + 2] = True
    return mask


def write_variant_dataset(raw_root: Path, dataset_id: int, name: str, n_train: int, n_test: int,
                          shape_zyx=(32, 32, 32), channels: int = 1, num_classes: int = 1, ignore: bool = False,
                          regions: bool = False, seed: int = 0, spacing=None) -> Path:
    """Write ``Dataset{id}_{name}``. Channel 1 (if any) is a second contrast: the inverted, smoothed image plus its
    own noise. With ``ignore``, training labels get an ignore slab (value 3); test labels never do. With
    ``regions``, labels are declared BraTS-style: whole = {1, 2}, core = {2}. ``spacing`` (x, y, z in mm, SimpleITK
    order): e.g. thick slices, for nnU-Net's dummy-2D augmentation."""
    extra = {"spacing": tuple(spacing)} if spacing is not None else {}
    from nnunetv2.dataset_conversion.generate_dataset_json import generate_dataset_json

    folder = Path(raw_root) / f"Dataset{dataset_id:03d}_{name}"
    for sub in ("imagesTr", "labelsTr", "imagesTs", "labelsTs"):
        (folder / sub).mkdir(parents=True)
    for split, first, count in (("Tr", 0, n_train), ("Ts", n_train, n_test)):
        for i in range(first, first + count):
            rng = np.random.default_rng([seed, i])
            image, label = make_phantom(rng, shape_zyx, num_classes)
            origin = tuple(float(o) for o in np.array(BASE_ORIGIN) + rng.uniform(-5, 5, 3))
            case = f"{name}_{i:03d}"
            write_phantom_image(image, folder / f"images{split}" / f"{case}_0000{FILE_ENDING}", origin, **extra)
            if channels > 1:
                second = 200.0 - ndimage.gaussian_filter(image, 0.7) + 5.0 * rng.standard_normal(image.shape)
                write_phantom_image(second.astype(np.float32),
                                    folder / f"images{split}" / f"{case}_0001{FILE_ENDING}", origin, **extra)
            if ignore and split == "Tr":
                label = label.copy()
                label[ignore_slab(label)] = IGNORE_VALUE
            write_phantom_image(label, folder / f"labels{split}" / f"{case}{FILE_ENDING}", origin, **extra)
    if regions:
        labels = {"background": 0, "whole": [1, 2], "core": [2]}
    else:
        labels = {"background": 0, "lesion": 1, **({"core": 2} if num_classes == 2 else {}),
                  **({"ignore": IGNORE_VALUE} if ignore else {})}
    channel_names = {"0": "T1", **({"1": "T2"} if channels > 1 else {})}
    generate_dataset_json(str(folder), channel_names=channel_names, labels=labels, num_training_cases=n_train,
                          file_ending=FILE_ENDING, dataset_name=folder.name,
                          regions_class_order=(1, 2) if regions else None, numTest=n_test)
    return folder


def write_cascade_plans(preprocessed_dataset: Path, source_plans: str, target_plans: str) -> Path:
    """A plans variant with ``3d_lowres`` (half the resolution, same network and patch) and ``3d_cascade_fullres``
    (``3d_fullres`` fed the low-resolution segmentation), wired the way nnU-Net's planner wires them when images are
    large. ``3d_fullres`` keeps its data identifier, so its preprocessed data is reused."""
    plans = json.loads((preprocessed_dataset / f"{source_plans}.json").read_text())
    new = copy.deepcopy(plans)
    new["plans_name"] = target_plans
    full = new["configurations"]["3d_fullres"]
    low = {"inherits_from": "3d_fullres", "data_identifier": f"{target_plans}_3d_lowres",
           "spacing": [2 * s for s in full["spacing"]],
           "median_image_size_in_voxels": [max(1, round(s / 2)) for s in full["median_image_size_in_voxels"]],
           "next_stage": "3d_cascade_fullres"}
    new["configurations"]["3d_lowres"] = low
    new["configurations"]["3d_cascade_fullres"] = {"inherits_from": "3d_fullres", "previous_stage": "3d_lowres"}
    out = preprocessed_dataset / f"{target_plans}.json"
    out.write_text(json.dumps(new, indent=2))
    return out
