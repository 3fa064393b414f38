"""Which noisy cases the teacher gate misses: the last round's case scores (from a training log) next to each case's
noise (the corruption manifest) and its given label's Dice against the clean one.

    python missed_cases.py TRAINING_LOG RAW_DATASET_FOLDER
"""
import ast
import json
import re
import sys

import SimpleITK as sitk


def main(log: str, raw: str) -> None:
    line = [x for x in open(log) if "teacher gate:" in x and "scores {" in x][-1]
    flagged = set(ast.literal_eval(re.search(r"flagged \((\[.*?\])\)", line).group(1)))
    scores = {k: float(v) for k, v in re.findall(r"(\w+): ([0-9.]+)[,}]", line.split("scores ", 1)[1])}
    cases = json.load(open(f"{raw}/noise_manifest.json"))["cases"]
    print(f"{'case':12s} score  flagged  noise                   given vs clean (Dice)  clean voxels")
    for c in sorted(scores, key=lambda c: -scores[c]):
        g = sitk.GetArrayFromImage(sitk.ReadImage(f"{raw}/labelsTr/{c}.nii.gz")) > 0
        k = sitk.GetArrayFromImage(sitk.ReadImage(f"{raw}/labelsTr_clean/{c}.nii.gz")) > 0
        ops = cases[c].get("operations", {})
        noise = ", ".join(f"{o['operation']} side {o['side']}" for o in ops.values()) if ops else "clean"
        dice = 2 * (g & k).sum() / max(1, g.sum() + k.sum())
        print(f"{c:12s} {scores[c]:.3f}  {'yes' if c in flagged else '-':7s}  {noise:22s}  {dice:.2f}"
              f"                   {int(k.sum())}")


if __name__ == "__main__":
    main(*sys.argv[1:])
