"""A synthetic 3-D lesion dataset in nnU-Net v2 raw format, for the demo, the tests and the CPU benchmark.

Each case is an MRI-like phantom: an ellipsoidal "body" of tissue in low-intensity air, with 1–2 irregular, lobulated
lesions (unions of 2–3 ellipsoids whose distance field is perturbed by smooth noise, thresholded so that the lesions
fill 4–10 % of the volume). The image shows the lesion as a partial-volume-blurred brightening of ≈ 1.75 noise sd
(with ``num_classes=2`` a darker necrotic core nested inside it), on a smooth tissue texture, under a smooth
multiplicative bias field, plus Gaussian noise: the boundary is genuinely ambiguous, which is the setting both papers
target (docs/METHOD.md §1, §2), yet a small U-Net learns it in a few hundred iterations.

Geometry is deliberately non-trivial: anisotropic spacing (0.8, 0.8, 1.0) mm, a per-case origin, and a direction
matrix that permutes and flips axes; image and label share it exactly.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import cc3d
import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from nnunet_svl.runtime.errors import SVLInputError

SPACING = (0.8, 0.8, 1.0)  # mm, SimpleITK (x, y, z) order
DIRECTION = (-1.0, 0.0, 0.0,
             0.0, 0.0, 1.0,
             0.0, 1.0, 0.0)  # a proper rotation (det +1): x flipped, y and z swapped (a coronal-like acquisition)
BASE_ORIGIN = (40.0, -25.5, 12.25)  # mm
FILE_ENDING = ".nii.gz"
NOISE_SD = 10.0
LESION_CONTRAST_SD = 1.75  # lesion brightening in units of NOISE_SD
TISSUE, AIR = 100.0, 15.0
FOREGROUND_FRACTION_RANGE = (0.04, 0.10)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """White noise low-passed by a Gaussian of ``sigma`` voxels, rescaled to unit standard deviation."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    return field / max(float(field.std()), 1e-6)


def _lesion_field(rng: np.random.Generator, grid: np.ndarray, shape: np.ndarray, body_radii: np.ndarray,
                  target_voxels: float) -> np.ndarray:
    """Normalised distance to the nearest lesion lobe (1 ≈ on a lobe's surface) for 1–2 lesions of 2–3 lobes."""
    n_lesions = int(rng.integers(1, 3))
    shares = rng.dirichlet(np.full(n_lesions, 3.0))
    centre = shape / 2.0
    field = np.full(grid.shape[1:], np.inf, dtype=np.float32)
    for share in shares:
        radius = (3.0 * share * target_voxels / (4.0 * np.pi)) ** (1.0 / 3.0)
        # keep the lesion inside the body: its centre within the body shrunk by 1.6 radii
        room = np.maximum(body_radii - 1.6 * radius, 0.0)
        direction = rng.standard_normal(3)
        direction /= np.linalg.norm(direction)
        c = centre + direction * room * rng.uniform(0.0, 0.8)
        for _ in range(int(rng.integers(2, 4))):
            lobe_centre = c + rng.normal(0.0, 0.3 * radius, 3)
            semi_axes = radius * rng.uniform(0.55, 1.0, 3)
            d = np.sqrt((((grid - lobe_centre[:, None, None, None]) / semi_axes[:, None, None, None]) ** 2).sum(0))
            np.minimum(field, d.astype(np.float32), out=field)
    return field


def make_phantom(rng: np.random.Generator, shape_zyx: tuple[int, int, int], num_classes: int = 1,
                 lesion_contrast_sd: float = LESION_CONTRAST_SD) -> tuple[np.ndarray, np.ndarray]:
    """(image float32, label uint8), arrays in SimpleITK (z, y, x) order. ``lesion_contrast_sd``: the lesion's
    brightening in units of the noise sd (lower = a fainter edge; the random draws do not depend on it)."""
    shape = np.array(shape_zyx, dtype=float)
    grid = np.indices(shape_zyx, dtype=np.float32) + 0.5
    n_voxels = float(np.prod(shape))
    small = float(shape.min())

    # body: a slightly irregular ellipsoid filling most of the field of view
    body_radii = shape * rng.uniform(0.42, 0.47, 3)
    body_dist = np.sqrt((((grid - (shape / 2)[:, None, None, None]) / body_radii[:, None, None, None]) ** 2).sum(0))
    body = body_dist + 0.03 * _smooth_noise(rng, shape_zyx, small / 8) < 1.0

    # lesions: threshold the perturbed lobe-distance field at the quantile giving the target foreground fraction
    target = rng.uniform(*FOREGROUND_FRACTION_RANGE) * n_voxels
    field = _lesion_field(rng, grid, shape, body_radii, target) + 0.25 * _smooth_noise(rng, shape_zyx, small / 12)
    field[~ndimage.binary_erosion(body, iterations=2)] = np.inf
    k = int(target)
    threshold = np.partition(field.ravel(), k)[k]
    lesion = field < threshold
    # drop specks: components under 2 % of the lesion volume
    components = cc3d.connected_components(lesion, connectivity=6)
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    lesion = sizes[components] >= 0.02 * lesion.sum()

    label = lesion.astype(np.uint8)
    core = np.zeros_like(lesion)
    if num_classes == 2:
        inside = field[lesion]
        # the lowest 35 % of the lesion's field, at least 2 voxels (face-connected) inside its boundary
        core = ndimage.binary_erosion(lesion, iterations=2) & (field < np.quantile(inside, 0.35))
        label[core] = 2

    # image: tissue / air, texture, blurred lesion (partial volume), bias field, noise
    def soft(mask: np.ndarray, sigma: float) -> np.ndarray:
        return ndimage.gaussian_filter(mask.astype(np.float32), sigma)

    contrast = float(lesion_contrast_sd) * NOISE_SD
    body_soft = soft(body, 1.0)
    image = AIR + (TISSUE - AIR) * body_soft
    image += 4.0 * _smooth_noise(rng, shape_zyx, 1.5) * body_soft
    image += contrast * soft(lesion, 1.2)
    if num_classes == 2:
        image -= 2.0 * contrast * soft(core, 1.2)
    coords = (grid - (shape / 2)[:, None, None, None]) / (shape / 2)[:, None, None, None]
    log_bias = np.tensordot(rng.uniform(-0.15, 0.15, 3), coords, axes=1) + \
        np.tensordot(rng.uniform(-0.1, 0.1, 3), coords ** 2, axes=1)
    image *= np.exp(log_bias)
    image += NOISE_SD * rng.standard_normal(shape_zyx).astype(np.float32)
    return image.astype(np.float32), label


def write_phantom_image(array: np.ndarray, path: Path, origin: tuple[float, float, float],
                        spacing: tuple[float, float, float] = SPACING) -> None:
    """One (z, y, x) array as a compressed NIfTI with the phantoms' spacing (or ``spacing``, SimpleITK x, y, z order)
    and direction and the given origin."""
    itk = sitk.GetImageFromArray(array)
    itk.SetSpacing(spacing)
    itk.SetOrigin(origin)
    itk.SetDirection(DIRECTION)
    sitk.WriteImage(itk, str(path), useCompression=True)


def _write_case(folder: Path, split: str, case: str, image: np.ndarray, label: np.ndarray,
                origin: tuple[float, float, float]) -> None:
    write_phantom_image(image, folder / f"images{split}" / f"{case}_0000{FILE_ENDING}", origin)
    write_phantom_image(label, folder / f"labels{split}" / f"{case}{FILE_ENDING}", origin)


def write_demo_dataset(raw_root: Path, dataset_id: int = 990, name: str = "SVLDemo", n_train: int = 12,
                       n_test: int = 6, shape: tuple[int, int, int] = (48, 48, 48), num_classes: int = 1,
                       seed: int = 0, overwrite: bool = False,
                       lesion_contrast_sd: float = LESION_CONTRAST_SD) -> Path:
    """Write ``raw_root/Dataset{id:03d}_{name}`` (nnU-Net v2 raw format) and return its path.

    ``shape`` is (X, Y, Z) in voxels, as SimpleITK reports the image size. Same arguments ⇒ identical arrays; the
    labels do not depend on ``lesion_contrast_sd`` (only the image's lesion brightening does).
    The folder is built beside the target and renamed into place; an existing target is refused unless
    ``overwrite`` (a folder with the same id but another name is always refused: nnU-Net could not tell them apart).
    """
    from nnunetv2.dataset_conversion.generate_dataset_json import generate_dataset_json

    raw_root = Path(raw_root)
    if not 1 <= int(dataset_id) <= 999:
        raise SVLInputError(None, f"dataset id {dataset_id} is outside 1..999", "pick a three-digit id")
    if num_classes not in (1, 2):
        raise SVLInputError(None, f"num_classes must be 1 or 2, got {num_classes}", "use 1 (lesion) or 2 (+ core)")
    if n_train < 1 or n_test < 0:
        raise SVLInputError(None, f"need n_train >= 1 and n_test >= 0, got {n_train} and {n_test}",
                            "pass positive case counts")
    if len(shape) != 3 or min(shape) < 16:
        raise SVLInputError(None, f"shape {tuple(shape)} must be three sizes of at least 16 voxels",
                            "pass e.g. --shape 48 48 48")
    if not 0.0 < float(lesion_contrast_sd) <= 20.0:
        raise SVLInputError(None, f"lesion contrast {lesion_contrast_sd} must be in (0, 20] noise sd",
                            f"pass e.g. {LESION_CONTRAST_SD} (the default)")
    if not name or not all(ch.isalnum() or ch in "-_" for ch in name):
        raise SVLInputError(None, f"dataset name {name!r} must be letters, digits, '-' or '_'", "pass e.g. SVLDemo")
    target = raw_root / f"Dataset{dataset_id:03d}_{name}"
    others = [p for p in raw_root.glob(f"Dataset{dataset_id:03d}_*") if p != target] if raw_root.is_dir() else []
    if others:
        raise SVLInputError(others[0], f"dataset id {dataset_id} is already used",
                            "pick another --dataset-id or remove that folder")
    if target.exists() and not overwrite:
        raise SVLInputError(target, "dataset folder already exists", "pass overwrite=True or pick another id")

    raw_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=raw_root))
    try:
        for sub in ("imagesTr", "labelsTr", "imagesTs", "labelsTs"):
            (tmp / sub).mkdir()
        shape_zyx = (int(shape[2]), int(shape[1]), int(shape[0]))
        for split, split_code, first, count in (("Tr", 0, 0, n_train), ("Ts", 1, n_train, n_test)):
            for i in range(first, first + count):
                rng = np.random.default_rng([seed, split_code, i])
                image, label = make_phantom(rng, shape_zyx, num_classes, lesion_contrast_sd)
                origin = tuple(float(o) for o in np.round(np.array(BASE_ORIGIN) + rng.uniform(-5, 5, 3), 2))
                _write_case(tmp, split, f"{name}_{i:03d}", image, label, origin)
        labels = {"background": 0, "lesion": 1}
        if num_classes == 2:
            labels["core"] = 2
        generate_dataset_json(str(tmp), channel_names={"0": "MRI"}, labels=labels, num_training_cases=n_train,
                              file_ending=FILE_ENDING, dataset_name=target.name, license="CC0 (synthetic)",
                              converted_by="nnunet_svl.tools.demo_data",
                              description="Synthetic lesion phantoms with blurred boundaries, bias field and noise",
                              numTest=n_test, svl_demo={"seed": seed, "shape": list(map(int, shape)),
                                                        "num_classes": num_classes,
                                                        **({} if lesion_contrast_sd == LESION_CONTRAST_SD else
                                                           {"lesion_contrast_sd": float(lesion_contrast_sd)})})
        if target.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=raw_root))
            os.replace(target, trash / target.name)
            os.replace(tmp, target)
            shutil.rmtree(trash)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
