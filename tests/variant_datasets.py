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

from conftest import NARROW, write_default_splits
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


# ------------------------------------------------------------------------------------------- the variant workspace
# Every variant dataset of the suite lives in one workspace, planned and preprocessed by one
# `nnUNetv2_plan_and_preprocess -d <all ids>` (one nnU-Net start-up and planning instead of one per dataset; conftest
# `variants_ws`). Ids are unique across the files that use them.
MULTI_ID, REGIONS_ID = 983, 984                   # test_configurations.py
REGIONS_QA_ID = 976                               # test_label_qa.py
RESAMPLE_IDS = {"isotropic": 987, "separate_z": 988}   # test_audit_resampled.py
ANISO_ID = RESAMPLE_IDS["separate_z"]             # test_anisotropic.py: thick slices, dummy-2D augmentation
DILATED_SOURCE_ID, DILATED_ID = 975, 985          # test_edge_repair.py

RESAMPLED_THICK = ("Resampled_000", "Resampled_001")
# name: (shape z, y, x; spacing of most cases (x, y, z); z spacing of the RESAMPLED_THICK cases). separate_z is also
# the anisotropic dataset (3 × 0.8 × 0.8 mm, 40² in-plane: nnU-Net's patch is 4× wider than deep, so it switches on
# dummy-2D augmentation)
RESAMPLE_GEOMETRIES = {"isotropic": ((16, 32, 32), (1.0, 1.0, 1.0), 2.0),
                       "separate_z": ((10, 40, 40), (0.8, 0.8, 3.0), 4.5)}
REGIONS_QA_NOISY = 2
"""The first two training cases of Dataset976 lost their core (2 → 1)."""


def _write_resampled(raw_root: Path, geometry: str) -> None:
    import SimpleITK as sitk

    shape_zyx, spacing, thick_z = RESAMPLE_GEOMETRIES[geometry]
    folder = write_variant_dataset(raw_root, RESAMPLE_IDS[geometry], "Resampled", n_train=5, n_test=1,
                                   shape_zyx=shape_zyx, seed=8, spacing=spacing)
    for case in RESAMPLED_THICK:          # same voxels, thicker slices: nnU-Net resamples these cases
        for path in (folder / "imagesTr" / f"{case}_0000{FILE_ENDING}", folder / "labelsTr" / f"{case}{FILE_ENDING}"):
            img = sitk.ReadImage(str(path))
            sx, sy, _ = img.GetSpacing()
            img.SetSpacing((sx, sy, thick_z))
            sitk.WriteImage(img, str(path), useCompression=True)


def _write_regions_qa(raw_root: Path) -> None:
    """Regions, five cases; ``labelsTr_clean`` keeps the labels as drawn, then the first REGIONS_QA_NOISY cases lose
    their core (wrong for the region "core", right for "whole")."""
    import shutil

    import SimpleITK as sitk

    from nnunet_svl.tools.audit import write_image_like

    raw = write_variant_dataset(raw_root, REGIONS_QA_ID, "RegionsQA", n_train=5, n_test=1, num_classes=2,
                                regions=True, seed=7)
    shutil.copytree(raw / "labelsTr", raw / "labelsTr_clean")
    for path in sorted((raw / "labelsTr").glob(f"*{FILE_ENDING}"))[:REGIONS_QA_NOISY]:
        img = sitk.ReadImage(str(path))
        label = sitk.GetArrayFromImage(img)
        assert (label == 2).any()
        write_image_like(np.where(label == 2, 1, label).astype(label.dtype), img, path)


def build_variant_workspace(ws) -> None:
    """Write every variant dataset, then plan and preprocess them with nnU-Net (``3d_fullres``; ``2d`` too for
    Dataset983), write the narrow plans, and write the 5-fold split of each dataset that has 5 or more training
    cases (so that trainings on two workers never race to write it; the one-case Dataset984 must stay without)."""
    from nnunet_svl.tools.corrupt import corrupt_dataset
    from nnunet_svl.tools.demo_data import write_demo_dataset
    from nnunet_svl.tools.pipeline import _bin
    from nnunet_svl.tools.plans import write_narrow_plans

    write_variant_dataset(ws.raw, MULTI_ID, "MultiChannelIgnore", n_train=5, n_test=1, channels=2, num_classes=2,
                          ignore=True, seed=3)
    write_variant_dataset(ws.raw, REGIONS_ID, "RegionsSingleCase", n_train=1, n_test=1, num_classes=2,
                          regions=True, seed=4)
    _write_regions_qa(ws.raw)
    for geometry in RESAMPLE_GEOMETRIES:
        _write_resampled(ws.raw, geometry)
    src = write_demo_dataset(ws.raw, dataset_id=DILATED_SOURCE_ID, name="EdgePhantoms", n_train=6, n_test=1,
                             shape=(40, 40, 40), seed=2)
    corrupt_dataset(src, target_id=DILATED_ID, protocol="dilate", ratio=0.5, seed=0, raw_root=ws.raw)
    ids = [MULTI_ID, REGIONS_ID, REGIONS_QA_ID, *RESAMPLE_IDS.values(), DILATED_ID]
    # --verify_dataset_integrity is exercised by the main fixture and the e2e test; here it would add ~20 s each
    ws.plan_and_preprocess(ids, num_processes=1, verify=False)
    ws.run(f"preprocess_{MULTI_ID}_2d", [_bin("nnUNetv2_preprocess"), "-d", str(MULTI_ID), "-c", "2d", "-np", "1"])
    for dataset_id in ids:
        write_narrow_plans(ws.preprocessed, dataset_id, target_plans=NARROW)
        if dataset_id != REGIONS_ID:
            write_default_splits(next(ws.preprocessed.glob(f"Dataset{dataset_id:03d}_*")))
