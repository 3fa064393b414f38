#!/bin/bash
# The new default (f51f70e, flagged cases excluded) trains exactly as `_ExcludeFlagged` did (fc05e4f): the SVLDRL run of
# the idle timing (benchmarks/overhead/run_timing.sh, mt seed 0, training seed 0) is predicted by the stock predictor,
# evaluated like the benchmark, and compared case by case with the benchmark's `_ExcludeFlagged` run of mt seed 0.
#   bash same_training_check.sh TIMING_OUT CODE REPORT_JSON        (e.g. /work/timing3 /work/benchcode4
#                                                                   benchmarks/flagged_sampling/report_5seeds/benchmark.json)
OUT=$1; CODE=$2; REPORT=$3
source /work/main/.venv/bin/activate
export nnUNet_raw=/work/bench_ws/ws/raw nnUNet_preprocessed=/work/bench_ws/ws/preprocessed nnUNet_results=$OUT/results
export nnUNet_extTrainer=$CODE/nnunet_svl/ext_trainers nnUNet_def_n_proc=1 PYTHONPATH=$CODE
ds=$(basename $(ls -d $nnUNet_raw/Dataset901_*))
nnUNetv2_predict -i $nnUNet_raw/$ds/imagesTs -o $OUT/pred_svldrl -d 901 -c 3d_fullres -tr nnUNetTrainerSVLDRL_bench \
  -p nnUNetPlans_narrow -f all -device cpu --disable_progress_bar > $OUT/pred_svldrl.log 2>&1
python - "$OUT" "$REPORT" "$nnUNet_raw/$ds" <<'PY'
import json, sys
from pathlib import Path
from nnunet_svl.tools.evaluate import evaluate_folders, write_results_json
out, report, raw = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
r = evaluate_folders(out / "pred_svldrl", raw / "labelsTs", dataset_json=raw / "dataset.json")
write_results_json(r, out / "pred_svldrl" / "svl_evaluation.json")
new = {c: v["lesion"]["dice"] for c, v in json.loads((out / "pred_svldrl" / "svl_evaluation.json").read_text())["per_case"].items()}
row = next(x for x in json.loads(report.read_text())["settings"]["mt_r0.5_s0"] if x["method"] == "nnUNetTrainerSVLDRL_ExcludeFlagged")
old = dict(zip(row["case_ids"], row["per_case"]["dice"]))
print(f"{len(old)} test cases, max |new default - _ExcludeFlagged| = {max(abs(new[c] - old[c]) for c in old):.3g}, "
      f"mean Dice {sum(new.values()) / len(new):.4f} vs {sum(old.values()) / len(old):.4f}")
PY
