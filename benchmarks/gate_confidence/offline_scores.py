"""Offline check of the teacher gate's case score: argmax disagreement vs disagreement counted only where the network
is confident, on the training cases of a noisy benchmark dataset (BENCHMARKS.md, "Confident disagreement").

The "teacher" here is the final `nnUNetTrainer` network trained on the noisy labels (a proxy for the EMA teacher in a
label round); its probabilities come from the stock predictor:

    nnUNetv2_predict -i RAW/imagesTr -o PRED -d ID -c 3d_fullres -tr nnUNetTrainerBaseline_bench \
        -p nnUNetPlans_narrow -f all -device cpu --save_probabilities
    python benchmarks/gate_confidence/offline_scores.py RAW PRED [--confidence 0.5 0.7 0.8 0.9]

Prints per case: the noise the benchmark applied (noise_manifest.json), the score at each confidence, and the width of
the network's soft band (voxels with 0.1 < p < 0.9 per boundary voxel of its argmax); then the cases the gate's rule
(teacher/case_flags.py, k 3, margin 0.25) would flag at each confidence.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from nnunet_svl.teacher.case_flags import disagreement_score, flag_cases, teacher_confident


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("raw", type=Path, help="noisy nnU-Net raw dataset (labelsTr, noise_manifest.json)")
    ap.add_argument("pred", type=Path, help="nnUNetv2_predict output with --save_probabilities")
    ap.add_argument("--confidence", type=float, nargs="+", default=[0.5, 0.7, 0.8, 0.9])
    ap.add_argument("--k", type=float, default=3.0)
    ap.add_argument("--margin", type=float, default=0.25)
    a = ap.parse_args()
    manifest = json.loads((a.raw / "noise_manifest.json").read_text())["cases"]
    scores: dict[float, dict[str, float]] = {c: {} for c in a.confidence}
    print(f"{a.raw.name}: case, noise, score at confidence {a.confidence}, soft band width")
    for npz in sorted(a.pred.glob("*.npz")):
        case = npz.stem
        probs = np.load(npz)["probabilities"].astype(np.float32)
        given = sitk.GetArrayFromImage(sitk.ReadImage(str(a.raw / "labelsTr" / f"{case}.nii.gz")))
        teacher = probs.argmax(0)
        valid = np.ones(given.shape, bool)
        for c in a.confidence:
            scores[c][case] = disagreement_score(teacher, given, valid, teacher_confident(probs, c))
        fg = teacher > 0
        surface = sum(int((fg ^ np.roll(fg, 1, ax)).sum()) for ax in range(fg.ndim))
        band = int(((probs[1:] > 0.1) & (probs[1:] < 0.9)).any(0).sum())
        info = manifest[case]
        ops = info.get("operations", {}).get("1", {})
        noise = f"{ops.get('operation', '')} {ops.get('side', '')}".strip() if info["noisy"] else "clean"
        print(f"  {case} {noise:10s} " + " ".join(f"{scores[c][case]:.3f}" for c in a.confidence)
              + f"  band {band / max(1, surface):.2f}")
    noisy = {c for c, v in manifest.items() if v["noisy"]}
    for c in a.confidence:
        flagged = flag_cases(scores[c], k=a.k, margin=a.margin)
        print(f"confidence {c}: flagged {len(flagged)} ({len(flagged & noisy)} noisy, {len(flagged - noisy)} clean): "
              f"{sorted(flagged)}")


if __name__ == "__main__":
    main()
