"""``nnunet-svl audit``: which training labels did a run change? Exported in the ORIGINAL image geometry.

For a finished (or running) training fold, per training case the label store holds:
  * ``<case>_corrected.nii.gz`` — the label the run ended with (the given label with the run's corrections applied,
    see :mod:`nnunet_svl.tools.geometry`);
  * ``<case>_changes.nii.gz`` — 0 unchanged, 1 foreground added, 2 foreground removed, 3 foreground class changed;
  * ``<case>_suspicion.nii.gz`` — 1 − ω (DALE label confidence; only for runs with DALE), float;
all with the original spacing, origin and direction, so 3D Slicer / ITK-SNAP open them over the image. Plus
``audit.csv`` ranking cases by the share of changed voxels, and PNG overlays of the most-changed slices.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Optional

import numpy as np
import SimpleITK as sitk

from nnunet_svl.runtime.atomic_io import atomic_write_bytes
from nnunet_svl.runtime.errors import SVLInputError
from nnunet_svl.tools.geometry import corrected_label_in_original_geometry, to_original_geometry
from nnunet_svl.runtime.label_store import LabelStore

CHANGE_CODES = {"unchanged": 0, "added": 1, "removed": 2, "class_changed": 3}


class RunContext:
    """What is needed to map a fold's label store back to the raw dataset."""

    def __init__(self, run_dir: Path, fold, preprocessed_root: Path, raw_dataset_dir: Path):
        from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

        self.run_dir = Path(run_dir)
        self.fold_dir = self.run_dir / f"fold_{fold}"
        if not (self.run_dir / "plans.json").is_file():
            raise SVLInputError(self.run_dir, "is not an nnU-Net training folder (no plans.json)",
                                "pass nnUNet_results/<dataset>/<trainer>__<plans>__<configuration>")
        self.store = LabelStore(self.fold_dir / "label_store")
        self.plans_manager = PlansManager(json.loads((self.run_dir / "plans.json").read_text()))
        configuration = self.run_dir.name.split("__")[-1]
        self.configuration_manager = self.plans_manager.get_configuration(configuration)
        self.dataset_json = json.loads((self.run_dir / "dataset.json").read_text())
        self.preprocessed_folder = Path(preprocessed_root) / self.plans_manager.dataset_name / \
            self.configuration_manager.data_identifier
        self.raw_dir = Path(raw_dataset_dir)
        self.file_ending = self.dataset_json["file_ending"]

    def cases(self) -> list[str]:
        return sorted(self.store.manifest()["cases"])

    def given_preprocessed(self, case: str):
        from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

        ds_cls = infer_dataset_class(str(self.preprocessed_folder))
        _, seg, _, props = ds_cls(str(self.preprocessed_folder), [case]).load_case(case)
        return np.asarray(seg[:]), props

    def original_label(self, case: str) -> tuple[np.ndarray, sitk.Image]:
        path = self.raw_dir / "labelsTr" / f"{case}{self.file_ending}"
        img = sitk.ReadImage(str(path))
        return sitk.GetArrayFromImage(img), img

    def final_label(self, case: str) -> tuple[np.ndarray, sitk.Image]:
        stored = self.store.load(case)
        original, img = self.original_label(case)
        if stored is None:
            return original, img
        given, props = self.given_preprocessed(case)
        return corrected_label_in_original_geometry(stored.label, given, original.reshape(
            _reader_shape(original, props)), props, self.plans_manager, self.configuration_manager
        ).reshape(original.shape), img


def _reader_shape(original: np.ndarray, props: dict) -> tuple:
    """nnU-Net's reader adds a leading axis for 2-D images; mirror its layout."""
    if original.ndim == 2:
        return (1, *original.shape)
    return original.shape


def final_training_labels_original_geometry(ws, dataset_name: str, run_dir: Path, plans: str, configuration: str,
                                            fold: int = 0) -> Optional[dict[str, np.ndarray]]:
    ctx = RunContext(run_dir, fold, ws.preprocessed, ws.raw / dataset_name)
    if ctx.store.current_round == 0:
        return None
    return {case: ctx.final_label(case)[0] for case in ctx.cases()}


def write_image_like(array: np.ndarray, like: sitk.Image, path: Path) -> None:
    """``array`` as an image with ``like``'s geometry, written atomically (compressed; parent folders created)."""
    img = sitk.GetImageFromArray(array)
    img.CopyInformation(like)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp" + "".join(path.suffixes))
    sitk.WriteImage(img, str(tmp), useCompression=True)
    tmp.replace(path)


def csv_bytes(rows: list[dict]) -> bytes:
    """Rows (dicts with the same keys) as CSV text with a header."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


def save_figure_png(fig, path: Path) -> None:
    """A matplotlib figure as a PNG, written atomically (parent folders created); the figure is closed."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())


def change_map(original: np.ndarray, final: np.ndarray) -> np.ndarray:
    out = np.zeros(original.shape, dtype=np.uint8)
    out[(original == 0) & (final > 0)] = CHANGE_CODES["added"]
    out[(original > 0) & (final == 0)] = CHANGE_CODES["removed"]
    out[(original > 0) & (final > 0) & (original != final)] = CHANGE_CODES["class_changed"]
    return out


def run_audit(run_dir: Path, raw_dataset_dir: Path, preprocessed_root: Path, out_dir: Path, fold: int = 0,
              n_overlays: int = 5) -> Path:
    ctx = RunContext(run_dir, fold, preprocessed_root, raw_dataset_dir)
    cases = ctx.cases()
    if not cases:
        raise SVLInputError(ctx.store.root, "the label store of this fold is empty (no label round has run yet)",
                            "audit a run that reached a correction round (see progress_svl.png)")
    out_dir = Path(out_dir)
    manifest_path = ctx.raw_dir / "noise_manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    rows = []
    for case in cases:
        original, img = ctx.original_label(case)
        final, _ = ctx.final_label(case)
        changes = change_map(original, final)
        write_image_like(final.astype(original.dtype), img, out_dir / f"{case}_corrected{ctx.file_ending}")
        write_image_like(changes, img, out_dir / f"{case}_changes{ctx.file_ending}")
        stored = ctx.store.load(case)
        suspicion_mean = float("nan")
        if stored is not None and stored.omega is not None:
            _, props = ctx.given_preprocessed(case)
            omega = to_original_geometry(stored.omega.astype(np.float32), props, ctx.plans_manager,
                                         ctx.configuration_manager, is_seg=False)[0]
            suspicion = np.clip(1.0 - omega, 0.0, 1.0).astype(np.float32).reshape(original.shape)
            write_image_like(suspicion, img, out_dir / f"{case}_suspicion{ctx.file_ending}")
            suspicion_mean = float(suspicion[original > 0].mean()) if (original > 0).any() else float("nan")
        n_changed = int((changes > 0).sum())
        rows.append({"case": case, "noisy_in_manifest": manifest.get("cases", {}).get(case, {}).get("noisy", ""),
                     "changed_voxels": n_changed, "changed_percent_of_foreground":
                         round(100.0 * n_changed / max(1, int((original > 0).sum())), 3),
                     "added": int((changes == 1).sum()), "removed": int((changes == 2).sum()),
                     "class_changed": int((changes == 3).sum()), "mean_suspicion_in_foreground": suspicion_mean})
    rows.sort(key=lambda r: -r["changed_percent_of_foreground"])
    atomic_write_bytes(out_dir / "audit.csv", csv_bytes(rows))
    for row in rows[:n_overlays]:
        if row["changed_voxels"] > 0:
            _overlay_png(ctx, row["case"], out_dir / f"{row['case']}_overlay.png")
    return out_dir


def _overlay_png(ctx: RunContext, case: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    original, _ = ctx.original_label(case)
    final, _ = ctx.final_label(case)
    image_path = ctx.raw_dir / "imagesTr" / f"{case}_0000{ctx.file_ending}"
    image = sitk.GetArrayFromImage(sitk.ReadImage(str(image_path))) if image_path.is_file() else None
    changes = change_map(original, final)
    if original.ndim == 2:
        original, final, changes = original[None], final[None], changes[None]
        image = image[None] if image is not None else None
    z = int(np.argmax(changes.reshape(changes.shape[0], -1).astype(bool).sum(1)))
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    if image is not None:
        ax.imshow(image[z], cmap="gray")
    ax.contour(original[z] > 0, levels=[0.5], colors="yellow", linewidths=1)
    ax.contour(final[z] > 0, levels=[0.5], colors="cyan", linewidths=1)
    overlay = np.ma.masked_where(changes[z] == 0, changes[z])
    ax.imshow(overlay, cmap="autumn", alpha=0.5, vmin=1, vmax=3)
    ax.set_title(f"{case} slice {z}: yellow given, cyan corrected", fontsize=8)
    ax.axis("off")
    save_figure_png(fig, path)
