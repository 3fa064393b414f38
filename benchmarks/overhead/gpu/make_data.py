"""Prepare the GPU-timing dataset HERE (CPU): synthetic phantoms, mt noise rho 0.5 (as the CPU benchmark preset),
nnU-Net's real plan_and_preprocess (3d_fullres default plans) and the project's narrow plans."""
import os, sys, time
from pathlib import Path
ROOT = Path(__file__).resolve().parent / "ws"
os.environ["nnUNet_raw"] = str(ROOT / "raw"); os.environ["nnUNet_preprocessed"] = str(ROOT / "pre")
os.environ["nnUNet_results"] = str(ROOT / "results")
from nnunet_svl.tools.demo_data import write_demo_dataset
from nnunet_svl.tools.corrupt import corrupt_dataset
n_train = int(sys.argv[1]); shape = tuple(int(s) for s in sys.argv[2:5])
t = time.time()
src = write_demo_dataset(ROOT / "raw", dataset_id=801, name="GpuTimingClean", n_train=n_train, n_test=0, shape=shape)
print("demo written", src, time.time() - t, flush=True)
dst = corrupt_dataset(src, target_id=802, protocol="mt", ratio=0.5, seed=0, raw_root=ROOT / "raw",
                      target_name="GpuTiming_mt_r0p5_s0")
print("corrupted", dst, time.time() - t, flush=True)
