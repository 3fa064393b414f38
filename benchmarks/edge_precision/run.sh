#!/bin/bash
# The edge repair at four lesion contrasts (1.75 noise sd = the benchmark's phantoms; 1.25, 1.0, 0.75 fainter), the
# cpu preset's 24 training / 20 test 40^3 phantoms: phantom draw 0 with mt / dilate / markov rho 0.5 and dilate rho 1
# (noise seed 0) and its clean training and test labels; phantom draws 1 and 2 at 1.0 and 0.75 (clean labels).
#   bash run.sh WORK      (WORK is created; about 6 minutes on 2 cores)
set -e
WORK=$1; D="$(cd "$(dirname "$0")" && pwd)"
write() {   # ROOT CONTRAST PHANTOM_SEED NOISY(0/1)
python - "$@" <<'PY'
import sys
from pathlib import Path
from nnunet_svl.tools.demo_data import write_demo_dataset
from nnunet_svl.tools.corrupt import corrupt_dataset
raw, c, seed, noisy = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
raw.mkdir(parents=True, exist_ok=True)
src = write_demo_dataset(raw, dataset_id=990, n_train=24, n_test=20, shape=(40, 40, 40), lesion_contrast_sd=c,
                         seed=seed)
for i, (prot, ratio) in enumerate((("mt", 0.5), ("dilate", 0.5), ("markov", 0.5), ("dilate", 1.0)) if noisy else ()):
    corrupt_dataset(src, target_id=901 + i, protocol=prot, ratio=ratio, seed=0, raw_root=raw,
                    target_name=f"SVLDemo_{prot}_r{ratio:g}_s0".replace(".", "p"))
test = raw / "Dataset980_SVLDemoTest"          # the clean test labels, read as a training set
test.mkdir()
(test / "imagesTr").symlink_to(src / "imagesTs")
(test / "labelsTr").symlink_to(src / "labelsTs")
PY
}
for c in 1.75 1.25 1.0 0.75; do write "$WORK/raw_c$c" $c 0 1; done
for s in 1 2; do for c in 1.0 0.75; do write "$WORK/raw_p${s}_c$c" $c $s 0; done; done
python "$D/contrast.py" "$WORK"/raw_c1.75/Dataset9* "$WORK"/raw_c1.25/Dataset9* "$WORK"/raw_c1.0/Dataset9* \
    "$WORK"/raw_c0.75/Dataset9* "$WORK"/raw_p*/Dataset9* --json "$WORK/contrast_cases.json" > "$D/contrast_output.txt"
