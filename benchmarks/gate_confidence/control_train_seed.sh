#!/bin/bash
# control: nnUNetTrainer on dataset 907 (dilate rho=1, noise seed 0) with other training seeds -> trajectory variance
cd /work/main && source .venv/bin/activate
export nnUNet_raw=/work/bench_ws/ws/raw nnUNet_preprocessed=/work/bench_ws/ws/preprocessed nnUNet_extTrainer=/work/main/nnunet_svl/ext_trainers nnUNet_n_proc_DA=0
for ts in 100 101; do
  export nnUNet_results=/work/bench_ws/ctrl/results_t$ts NNUNET_SVL_TRAIN_SEED=$ts
  nnUNetv2_train 907 3d_fullres all -tr nnUNetTrainerBaseline_bench -p nnUNetPlans_narrow -device cpu > /work/bench_ws/ctrl/train_t$ts.log 2>&1
  nnUNetv2_predict -i $nnUNet_raw/Dataset907_SVLDemo_dilate_r1_s0/imagesTs -o /work/bench_ws/ctrl/pred_t$ts -d 907 -c 3d_fullres -tr nnUNetTrainerBaseline_bench -p nnUNetPlans_narrow -f all -device cpu --disable_progress_bar > /work/bench_ws/ctrl/pred_t$ts.log 2>&1
  python -c "
from nnunet_svl.tools.evaluate import evaluate_folders, write_results_json
from pathlib import Path
r = evaluate_folders(Path('/work/bench_ws/ctrl/pred_t$ts'), Path('$nnUNet_raw/Dataset907_SVLDemo_dilate_r1_s0/labelsTs'), dataset_json=Path('$nnUNet_raw/Dataset907_SVLDemo_dilate_r1_s0/dataset.json'))
write_results_json(r, Path('/work/bench_ws/ctrl/pred_t$ts/svl_evaluation.json'))
import numpy as np; print('t$ts', np.mean([np.nanmean([m['dice'] for m in v.values()]) for v in r['per_case'].values()]))
" >> /work/bench_ws/ctrl/summary.txt 2>&1
done
