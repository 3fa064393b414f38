#!/bin/bash
# #16 the two-pass workflow on the current default, one protocol and seed per call (preset cpu):
#   5 folds of nnUNetTrainer (--npz) -> nnunet-svl label-qa -> nnUNetTrainerSVLDRL_LabelQA, against nnUNetTrainer
#   (and the one-pass nnUNetTrainerSVLDRL when M names it) on the same labels and seed.
#   S=0 P=mt nice -n 19 bash benchmarks/label_qa_twopass/run_s11.sh       (WS: a cpu-preset benchmark workspace
#   that already holds the protocol's dataset, e.g. after `nnunet-svl benchmark --protocols mt --seeds S`)
source /work/main/.venv/bin/activate
WS=${WS:-/work/bench_ws/wse}
S=${S:-0}
P=${P:-mt}
R=${R:-0.5}
M=${M:-"nnUNetTrainer nnUNetTrainerSVLDRL_LabelQA"}
RN=${R/./p}; RN=${RN%p0}              # the benchmark's dataset names: r0p5, r1 (R=1.0 or 1)
DS=$(basename "$(ls -d $WS/raw/Dataset*_SVLDemo_${P}_r${RN}_s$S 2>/dev/null)")
[ -n "$DS" ] || { echo "no raw dataset ${P} r${RN} s$S in $WS/raw: run the benchmark command above first"; exit 1; }
RUN=$WS/results_seed$S/$DS/nnUNetTrainerBaseline_bench__nnUNetPlans_narrow__3d_fullres
OUT=$WS/report_twopass_${P}_r${RN}_s$S
set -ex
if [[ " $M " != *_LabelQA* ]]; then   # no two-pass trainer named: only the benchmark (e.g. the one-pass default)
  nnunet-svl benchmark --workspace $WS --preset cpu --protocols $P --ratios $R --methods $M --no-clean-methods \
      --seeds $S -o ${OUT/twopass/onepass}
  exit
fi
# 1. the five folds, one interpreter (the same nnUNetv2_train calls a user runs, with --npz)
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
# 2. label QA from the held-out predictions (clean labels: benchmark figures only)
[ -f $RUN/label_qa/summary.json ] || nnunet-svl label-qa $RUN --raw-dataset $WS/raw/$DS --clean-labels $WS/raw/$DS/labelsTr_clean
# 3. the two-pass trainer beside nnUNetTrainer (label_qa 'auto' finds the folder above)
nnunet-svl benchmark --workspace $WS --preset cpu --protocols $P --ratios $R --methods $M --no-clean-methods \
    --seeds $S -o $OUT
