#!/bin/bash
# One training with a config override on the benchmark workspace's data, then the stock predictor and the benchmark's
# evaluation. Used for the shared-bias oracle (voxel_mechanisms_oracle_flags.json: every noisy case flagged by the
# oracle, flagged cases drawn as often as any, DALE weight 0 wherever the teacher is below 0.9 on the given label,
# vA3C flips where it is confident):
#   CODE=<checkout> bash run_one.sh NAME 907 nnUNetTrainerSVLDRL_bench 0 voxel_mechanisms_oracle_flags.json
# (paths of the 2026-12-01 session: data in /work/bench_ws/ws, results in /work/exp_r1/NAME)
# usage: run_one.sh NAME DATASET_ID TRAINER SEED CONFIG_JSON   (ws2 data; results in /work/exp_r1/NAME)
NAME=$1; ID=$2; TR=$3; SEED=$4; CFG=$5
source /work/main/.venv/bin/activate
CODE=${CODE:-/work/benchcode5}
export PYTHONPATH=$CODE
export nnUNet_raw=/work/bench_ws/ws/raw nnUNet_preprocessed=/work/bench_ws/ws/preprocessed nnUNet_results=/work/exp_r1/$NAME/results
export nnUNet_extTrainer=$CODE/nnunet_svl/ext_trainers OMP_WAIT_POLICY=PASSIVE nnUNet_n_proc_DA=0 nnUNet_def_n_proc=1 nnUNet_compile=false
export NNUNET_SVL_TRAIN_SEED=$SEED
ds=$(basename $(ls -d $nnUNet_raw/Dataset${ID}_*))
export NNUNET_SVL_CLEAN_LABELS=$nnUNet_raw/$ds/labelsTr_clean
[ -n "$CFG" ] && export NNUNET_SVL_CONFIG=$CFG
OUT=/work/exp_r1/$NAME; mkdir -p $OUT
nnUNetv2_train $ID 3d_fullres all -tr $TR -p nnUNetPlans_narrow -device cpu > $OUT/train.log 2>&1
nnUNetv2_predict -i $nnUNet_raw/$ds/imagesTs -o $OUT/pred -d $ID -c 3d_fullres -tr $TR -p nnUNetPlans_narrow -f all -device cpu --disable_progress_bar > $OUT/pred.log 2>&1
python -c "
from pathlib import Path
from nnunet_svl.tools.evaluate import evaluate_folders, write_results_json
raw = Path('$nnUNet_raw/$ds')
r = evaluate_folders(Path('$OUT/pred'), raw / 'labelsTs', dataset_json=raw / 'dataset.json')
write_results_json(r, Path('$OUT/pred/svl_evaluation.json'))"
echo "$NAME done"
