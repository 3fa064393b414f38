#!/bin/bash
# SVLDRL with the dev branch (blosc2 store, corrected-label oversampling) on one bench dataset, same seed as the
# benchmark; results to /work/devruns/results. Usage: run_dev.sh DATASET_ID DATASET_NAME SEED
set -e
ID=$1; NAME=$2; SEED=$3
source /work/main/.venv/bin/activate
export PYTHONPATH=/work/dev nnUNet_extTrainer=/work/dev/nnunet_svl/ext_trainers
export nnUNet_raw=/work/bench_ws/ws/raw nnUNet_preprocessed=/work/bench_ws/ws/preprocessed
export nnUNet_results=/work/devruns/results_${TAG:-s}$SEED nnUNet_n_proc_DA=0 nnUNet_compile=false nnUNet_def_n_proc=2
export NNUNET_SVL_TRAIN_SEED=$SEED NNUNET_SVL_MEMORISATION_EVERY=4
export NNUNET_SVL_CLEAN_LABELS=$nnUNet_raw/$NAME/labelsTr_clean
TR=nnUNetTrainerSVLDRL_bench
nnUNetv2_train $ID 3d_fullres all -tr $TR -p nnUNetPlans_narrow -device cpu > /work/devruns/train_${ID}_${TAG:-s}$SEED.log 2>&1
nnUNetv2_predict -i $nnUNet_raw/$NAME/imagesTs -o /work/devruns/pred_${ID}_${TAG:-s}$SEED -d $ID -c 3d_fullres -tr $TR \
  -p nnUNetPlans_narrow -f all -device cpu -npp 1 -nps 1 > /work/devruns/pred_${ID}_${TAG:-s}$SEED.log 2>&1
nnunet-svl evaluate /work/devruns/pred_${ID}_${TAG:-s}$SEED $nnUNet_raw/$NAME/labelsTs -o /work/devruns/eval_${ID}_${TAG:-s}$SEED.json
