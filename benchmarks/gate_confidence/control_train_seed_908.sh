#!/bin/bash
cd /work/main && source .venv/bin/activate
export nnUNet_raw=/work/bench_ws/ws/raw nnUNet_preprocessed=/work/bench_ws/ws/preprocessed nnUNet_extTrainer=/work/main/nnunet_svl/ext_trainers nnUNet_n_proc_DA=0
D=Dataset908_SVLDemo_dilate_r1_s1; ts=100
export nnUNet_results=/work/bench_ws/ctrl/r908_t$ts NNUNET_SVL_TRAIN_SEED=$ts
nnUNetv2_train 908 3d_fullres all -tr nnUNetTrainerBaseline_bench -p nnUNetPlans_narrow -device cpu > /work/bench_ws/ctrl/train908_t$ts.log 2>&1
nnUNetv2_predict -i $nnUNet_raw/$D/imagesTs -o /work/bench_ws/ctrl/pred908_t$ts -d 908 -c 3d_fullres -tr nnUNetTrainerBaseline_bench -p nnUNetPlans_narrow -f all -device cpu --disable_progress_bar > /work/bench_ws/ctrl/pred908_t$ts.log 2>&1
python -c "
from nnunet_svl.tools.evaluate import evaluate_folders, write_results_json
from pathlib import Path
r = evaluate_folders(Path('/work/bench_ws/ctrl/pred908_t$ts'), Path('$nnUNet_raw/$D/labelsTs'), dataset_json=Path('$nnUNet_raw/$D/dataset.json'))
write_results_json(r, Path('/work/bench_ws/ctrl/pred908_t$ts/svl_evaluation.json'))
import numpy as np; print('908 t$ts', np.mean([np.nanmean([m['dice'] for m in v.values()]) for v in r['per_case'].values()]))
" >> /work/bench_ws/ctrl/summary.txt 2>&1
