#!/bin/bash
# The bench's noise floor: nnUNetTrainer retrained on the same noisy labels with another training seed
# (NNUNET_SVL_TRAIN_SEED = 100 + noise seed; the benchmark trains with the noise seed), predicted by the stock
# predictor and evaluated like the benchmark. Then null_compare.py gives its paired difference to the benchmark's
# own nnUNetTrainer exactly as the benchmark reports a method: what a method with no effect at all would show.
#   bash null_control.sh WS CODE OUT DATASET_ID...      (WS: a `nnunet-svl benchmark` workspace; CODE: the checkout)
WS=$1; CODE=$2; OUT=$3; shift 3
cd "$CODE" && source /work/main/.venv/bin/activate && export PYTHONPATH=$CODE
export nnUNet_raw=$WS/raw nnUNet_preprocessed=$WS/preprocessed nnUNet_extTrainer=$CODE/nnunet_svl/ext_trainers nnUNet_n_proc_DA=0
mkdir -p "$OUT"
for id in "$@"; do
  ds=$(basename "$(ls -d $nnUNet_raw/Dataset${id}_*)")
  seed=${ds##*_s}
  ts=$((100 + seed))
  export nnUNet_results=$OUT/results_t$ts NNUNET_SVL_TRAIN_SEED=$ts
  if [ ! -f "$OUT/pred_${id}_t$ts/svl_evaluation.json" ]; then
    nnUNetv2_train $id 3d_fullres all -tr nnUNetTrainerBaseline_bench -p nnUNetPlans_narrow -device cpu > "$OUT/train_${id}_t$ts.log" 2>&1
    nnUNetv2_predict -i $nnUNet_raw/$ds/imagesTs -o "$OUT/pred_${id}_t$ts" -d $id -c 3d_fullres -tr nnUNetTrainerBaseline_bench \
      -p nnUNetPlans_narrow -f all -device cpu --disable_progress_bar > "$OUT/pred_${id}_t$ts.log" 2>&1
    python -c "
from pathlib import Path
from nnunet_svl.tools.evaluate import evaluate_folders, write_results_json
raw = Path('$nnUNet_raw/$ds')
r = evaluate_folders(Path('$OUT/pred_${id}_t$ts'), raw / 'labelsTs', dataset_json=raw / 'dataset.json')
write_results_json(r, Path('$OUT/pred_${id}_t$ts/svl_evaluation.json'))"
  fi
  echo "$id $ds train seed $ts done"
done
