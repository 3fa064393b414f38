#!/bin/bash
# #16 "clean labels: cases flagged — none at the default threshold": label-qa on the benchmark's clean dataset, one
# seed per call (the seed sets the training seed of the five folds; the labels are the same clean ones every seed).
#   S=1 nice -n 19 bash benchmarks/label_qa_twopass/run_clean_qa.sh     (WS: a cpu-preset benchmark workspace that
#   holds the clean dataset, i.e. after any `nnunet-svl benchmark --workspace WS --preset cpu ...`)
# Writes RUN/label_qa/summary.json (its "flagged" list is the figure) and copies it to WS/report_clean_qa_sS.json.
source /work/main/.venv/bin/activate
WS=${WS:-/work/bench_ws/wse}
S=${S:-0}
DS=$(basename $(ls -d $WS/raw/Dataset990_*))
RUN=$WS/results_seed$S/$DS/nnUNetTrainerBaseline_bench__nnUNetPlans_narrow__3d_fullres
set -ex
[ -f $RUN/fold_4/checkpoint_final.pth ] || WS=$WS S=$S DS=$DS python - <<'PY'
import os
from pathlib import Path
from nnunet_svl.tools.benchmark import seed_workspace
from nnunet_svl.tools.pipeline import NNUNetWorkspace
sws = seed_workspace(NNUNetWorkspace.create(Path(os.environ["WS"])), int(os.environ["S"]))
ds = os.environ["DS"]
sws.train_folds(int(ds[7:10]), "nnUNetTrainerBaseline_bench", plans="nnUNetPlans_narrow",
                extra_args=["--npz"], name=f"folds_{ds}_s{os.environ['S']}")
PY
[ -f $RUN/label_qa/summary.json ] || nnunet-svl label-qa $RUN --raw-dataset $WS/raw/$DS
cp $RUN/label_qa/summary.json $WS/report_clean_qa_s$S.json
