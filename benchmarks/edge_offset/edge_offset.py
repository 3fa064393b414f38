"""Offline instrument (issue 13: markov, dilate ρ 1, flag recall): does the *image* say where a label's boundary
should be? Evidence the labels do not carry, needed where a bias is shared by every case (BENCHMARKS.md, "A bias
shared by every case": no consensus signal points at the true boundary there).

Per training case the plugin's own edge fit (``nnunet_svl.edge.boundary.fit_edge``: a blurred intensity step fitted
across the label's signed distance on the voxels inside the label, with its reliability checks) gives the *edge
offset*, how far in voxels the label's boundary lies outside the image's edge, and ``repair_label`` moves the
boundary in to the edge where the offset exceeds ``--tolerance``. On the raw images (no preprocessing, no network).

Reported per dataset: the estimate against the true offset ((|given| − |clean|) / |boundary voxels of the given
label|, from the clean labels the corruption kept); the case AUROC of the edge offset (noisy vs clean); its spread on
the clean cases; and the repair as Dice to the clean label against the given one (noisy and clean cases apart, with
how many labels and voxels moved, and the repair's precision: the share of the moved voxels that are background in
the clean label).

usage: python edge_offset.py RAW_DATASET_FOLDER [...] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from nnunet_svl.diagnostics.quality import auroc
from nnunet_svl.edge.boundary import fit_edge, repair_label
from nnunet_svl.tools.metrics import dice


def run_dataset(folder: Path, args) -> dict:
    manifest = json.loads((folder / "noise_manifest.json").read_text())["cases"] \
        if (folder / "noise_manifest.json").is_file() else {}
    clean_dir = folder / "labelsTr_clean" if (folder / "labelsTr_clean").is_dir() else folder / "labelsTr"
    out = {}
    for lab in sorted((folder / "labelsTr").glob("*.nii.gz")):
        case = lab.name[:-len(".nii.gz")]
        image = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "imagesTr" / f"{case}_0000.nii.gz")))
        given = sitk.GetArrayFromImage(sitk.ReadImage(str(lab))) == 1
        clean = sitk.GetArrayFromImage(sitk.ReadImage(str(clean_dir / lab.name))) == 1
        surface = float((given & ~ndimage.binary_erosion(given)).sum())
        true_offset = (float(given.sum()) - float(clean.sum())) / max(surface, 1.0)
        if given.sum() == 0:
            out[case] = {"noisy": bool(manifest.get(case, {}).get("noisy", False)), "true_offset": true_offset,
                         "edge_offset": float("nan"), "reliable": False, "reason": "empty label", "t": 0.0,
                         "contrast": 0.0, "dice_given": dice(given, clean), "dice_repaired": dice(given, clean),
                         "moved": False, "moved_voxels": 0, "moved_right": 0}
            continue
        fit = fit_edge(image[None], given, window=args.window, sigma=args.sigma)
        repaired = repair_label(given.astype(np.int16), fit, args.tolerance) > 0
        out[case] = {"noisy": bool(manifest.get(case, {}).get("noisy", False)), "true_offset": true_offset,
                     "edge_offset": fit.offset, "reliable": fit.reliable, "reason": fit.reason,
                     "t": fit.t_value, "contrast": fit.contrast, "dice_given": dice(given, clean),
                     "dice_repaired": dice(repaired, clean), "moved": bool((repaired != given).any()),
                     "moved_voxels": int((given & ~repaired).sum()), "moved_right": int((given & ~repaired & ~clean).sum())}
    return out


def summarise(name: str, cases: dict, tolerance: float) -> str:
    noisy = np.array([v["noisy"] for v in cases.values()])
    est = np.array([v["edge_offset"] for v in cases.values()])
    true = np.array([v["true_offset"] for v in cases.values()])
    ok = np.isfinite(est)
    lines = [f"{name}: {int(noisy.sum())} noisy of {len(cases)}"]
    if noisy.any() and (~noisy).any():
        lines.append(f"  AUROC edge offset (noisy vs clean) {auroc(est[ok], noisy[ok]):.3f}, "
                     f"|edge offset| {auroc(np.abs(est[ok]), noisy[ok]):.3f}")
    if ok.sum() > 2:
        lines.append(f"  estimate vs true offset: r = {np.corrcoef(est[ok], true[ok])[0, 1]:+.3f}, "
                     f"mean |error| {np.abs(est[ok] - true[ok]).mean():.2f} voxels")
    for group, sel in (("clean", ~noisy), ("noisy", noisy)):
        if sel.any():
            g = [v for v, s in zip(cases.values(), sel) if s]
            e = np.array([v["edge_offset"] for v in g])
            dg = np.mean([v["dice_given"] for v in g])
            dr = np.mean([v["dice_repaired"] for v in g])
            moved = int(sum(v["moved"] for v in g))
            n_moved = int(sum(v["moved_voxels"] for v in g))
            precision = sum(v["moved_right"] for v in g) / n_moved if n_moved else float("nan")
            lines.append(f"  {group}: edge offset {np.nanmean(e):+.2f} ± {np.nanstd(e):.2f} "
                         f"[{np.nanmin(e):+.2f}, {np.nanmax(e):+.2f}]; repair (moved {moved} of {len(g)}): "
                         f"Dice to clean {dg:.4f} -> {dr:.4f} ({100 * (dr - dg):+.2f} pts); "
                         f"{n_moved} voxels moved, precision {precision:.3f} (background in the clean label)")
    lines.append("  per case (true offset / edge offset, * noisy): " + " ".join(
        f"{v['true_offset']:+.1f}/{v['edge_offset']:+.1f}{'*' if v['noisy'] else ''}"
        for v in sorted(cases.values(), key=lambda v: v["true_offset"])))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("datasets", nargs="+", type=Path)
    ap.add_argument("--window", type=float, default=8.0)
    ap.add_argument("--sigma", type=float, default=1.5)
    ap.add_argument("--tolerance", type=float, default=1.0, help="repair (shrink) only where the edge offset exceeds this")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    print(f"window {args.window} voxels inside the label, sigma {args.sigma}, repair tolerance {args.tolerance} "
          f"(nnunet_svl.edge.boundary: fit_edge, repair_label, with their reliability checks)")
    everything = {}
    for folder in args.datasets:
        cases = run_dataset(folder, args)
        everything[folder.name] = cases
        print(summarise(folder.name, cases, args.tolerance), flush=True)
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1))


if __name__ == "__main__":
    main()
