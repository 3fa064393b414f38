#!/bin/bash
# (paths as run on the session machine: CODE = a checkout of main at 7644d43, WS = the benchmark workspace)
# sanity: the null-control script with the benchmark's own training seed (0) must reproduce the benchmark's nnUNetTrainer
cd CODE && source /work/main/.venv/bin/activate && export PYTHONPATH=CODE
WS=/work/bench_ws/ws; OUT=/work/bench_ws/null
export nnUNet_raw=$WS/raw nnUNet_preprocessed=$WS/preprocessed nnUNet_extTrainer=CODE/nnunet_svl/ext_trainers nnUNet_n_proc_DA=0
export nnUNet_results=$OUT/results_t0 NNUNET_SVL_TRAIN_SEED=0
nnUNetv2_train 901 3d_fullres all -tr nnUNetTrainerBaseline_bench -p nnUNetPlans_narrow -device cpu > $OUT/train_901_t0.log 2>&1
nnUNetv2_predict -i $nnUNet_raw/Dataset901_SVLDemo_mt_r0p5_s0/imagesTs -o $OUT/pred_901_t0 -d 901 -c 3d_fullres -tr nnUNetTrainerBaseline_bench -p nnUNetPlans_narrow -f all -device cpu --disable_progress_bar > $OUT/pred_901_t0.log 2>&1
python -c "
from pathlib import Path
from nnunet_svl.tools.evaluate import evaluate_folders, write_results_json
raw = Path('$nnUNet_raw/Dataset901_SVLDemo_mt_r0p5_s0')
write_results_json(evaluate_folders(Path('$OUT/pred_901_t0'), raw / 'labelsTs', dataset_json=raw / 'dataset.json'), Path('$OUT/pred_901_t0/svl_evaluation.json'))"
echo REPRO_DONE
