"""Build Dataset907_P40_mt_cleanonly (raw and preprocessed) from the regime's mt dataset: only the training cases the
noise manifest marks clean, same preprocessing, the same 20 test cases. The bound `base_cleanonly12` trains
nnUNetTrainerBaseline_bench on it: run.sh 907 nnUNetTrainerBaseline_bench base_cleanonly12.
Usage: python make_cleanonly.py [REGIME_WS]   (default /work/regime_exp/ws)"""
import json
import os
import shutil
import sys
from pathlib import Path

ws = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/regime_exp/ws")
src_raw, src_pre = ws / "raw/Dataset901_P40_mt_r05_s0", ws / "pre/Dataset901_P40_mt_r05_s0"
name = "Dataset907_P40_mt_cleanonly"
keep = sorted(c for c, v in json.loads((src_raw / "noise_manifest.json").read_text())["cases"].items()
              if not v["noisy"])
raw, pre = ws / "raw" / name, ws / "pre" / name
for d in (raw, pre):
    shutil.rmtree(d, ignore_errors=True)
(raw / "imagesTr").mkdir(parents=True)
(raw / "labelsTr").mkdir()
for sub in ("imagesTs", "labelsTs"):
    os.symlink((src_raw / sub).resolve(), raw / sub)
for c in keep:
    os.symlink((src_raw / "imagesTr" / f"{c}_0000.nii.gz").resolve(), raw / "imagesTr" / f"{c}_0000.nii.gz")
    os.symlink((src_raw / "labelsTr" / f"{c}.nii.gz").resolve(), raw / "labelsTr" / f"{c}.nii.gz")
dataset = json.loads((src_raw / "dataset.json").read_text())
dataset["numTraining"] = len(keep)
dataset.pop("svl_noise", None)
(raw / "dataset.json").write_text(json.dumps(dataset, indent=1))
(pre / "nnUNetPlans_3d_fullres").mkdir(parents=True)
(pre / "gt_segmentations").mkdir()
for c in keep:
    for suffix in (".b2nd", ".pkl", "_seg.b2nd"):
        shutil.copy(src_pre / "nnUNetPlans_3d_fullres" / f"{c}{suffix}", pre / "nnUNetPlans_3d_fullres")
    shutil.copy(src_pre / "gt_segmentations" / f"{c}.nii.gz", pre / "gt_segmentations")
(pre / "dataset.json").write_text(json.dumps(dataset, indent=1))
shutil.copy(src_pre / "dataset_fingerprint.json", pre)
for plans in ("nnUNetPlans.json", "nnUNetPlans_narrow.json"):
    p = json.loads((src_pre / plans).read_text())
    p["dataset_name"] = name
    (pre / plans).write_text(json.dumps(p, indent=1))
print(f"{name}: {len(keep)} clean training cases")
