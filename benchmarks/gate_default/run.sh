#!/usr/bin/env bash
# usage: run.sh DS_ID TRAINER TAG [CONFIG_JSON]   (fold all, seed $SEED (0), clean labels for diagnostics)
# REGIME_WS: the workspace holding raw/ and pre/ of the regime datasets (BENCHMARKS.md, "A regime where label noise
# hurts nnU-Net"); RESULTS: where the runs go (default ./res). Logs, predictions and results land beside this script.
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
source "$repo/.venv/bin/activate"
ws=${REGIME_WS:-/work/regime_exp/ws}
export nnUNet_raw=$ws/raw nnUNet_preprocessed=$ws/pre nnUNet_results=${RESULTS:-$here/res}/$3
export nnUNet_extTrainer=$repo/nnunet_svl/ext_trainers OMP_WAIT_POLICY=PASSIVE nnUNet_n_proc_DA=0 nnUNet_def_n_proc=1
export NNUNET_SVL_TRAIN_SEED=${SEED:-0} NNUNET_SVL_MEMORISATION_EVERY=${MEM_EVERY:-4}
[ -n "$4" ] && export NNUNET_SVL_CONFIG=$4
ds=$1; tr=$2; tag=$3
raw=$(ls -d $nnUNet_raw/Dataset${ds}_*)
if [ -d $raw/labelsTr_clean ]; then export NNUNET_SVL_CLEAN_LABELS=$raw/labelsTr_clean; else export NNUNET_SVL_CLEAN_LABELS=$raw/labelsTr; fi
cd "$here" && mkdir -p logs preds
t0=$(date +%s)
nnUNetv2_train $ds 3d_fullres all -tr $tr -p nnUNetPlans_narrow -device cpu > logs/train_$tag.log 2>&1 || { echo "train failed $tag"; exit 1; }
t1=$(date +%s)
nnUNetv2_predict -i $raw/imagesTs -o preds/$tag -d $ds -c 3d_fullres -tr $tr -p nnUNetPlans_narrow -f all -device cpu -npp 1 -nps 1 > logs/predict_$tag.log 2>&1
nnunet-svl evaluate preds/$tag $raw/labelsTs --dataset-json $raw/dataset.json > logs/eval_$tag.txt 2>&1
echo "$tag train_s=$((t1-t0)) $(grep -i 'mean of classes' logs/eval_$tag.txt | head -1)"
