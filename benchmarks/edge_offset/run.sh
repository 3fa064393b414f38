#!/bin/bash
# The edge-offset instrument on the cpu preset's phantoms (24 training cases, 40^3, the benchmark's demo dataset and
# corruption seeds): mt / dilate / markov rho 0.5 and dilate rho 1, seeds 0-2, plus the clean training and test labels.
#   bash run.sh RAW_ROOT      (RAW_ROOT is created; about 2 minutes on 2 cores)
set -e
RAW=$1; D="$(dirname "$0")"
python - "$RAW" <<'PY'
import sys
from pathlib import Path
from nnunet_svl.tools.demo_data import write_demo_dataset
from nnunet_svl.tools.corrupt import corrupt_dataset
raw = Path(sys.argv[1]); raw.mkdir(parents=True, exist_ok=True)
src = write_demo_dataset(raw, dataset_id=990, n_train=24, n_test=20, shape=(40, 40, 40))
i = 901
for prot, ratio in (("mt", 0.5), ("dilate", 0.5), ("markov", 0.5), ("dilate", 1.0)):
    for seed in (0, 1, 2):
        corrupt_dataset(src, target_id=i, protocol=prot, ratio=ratio, seed=seed, raw_root=raw,
                        target_name=f"SVLDemo_{prot}_r{ratio:g}_s{seed}".replace(".", "p"))
        i += 1
test = raw / "Dataset980_SVLDemoTest"          # the clean test labels, read as a training set
test.mkdir()
(test / "imagesTr").symlink_to(src / "imagesTs")
(test / "labelsTr").symlink_to(src / "labelsTs")
PY
python "$D/edge_offset.py" "$RAW"/Dataset9* --json "$D/edge_offset_cases.json" > "$D/edge_offset_output.txt"
