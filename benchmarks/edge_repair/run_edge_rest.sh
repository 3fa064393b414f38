#!/bin/bash
# Stopped after markov seed 1 for time: the seed-2 runs and the mt / dilate run at the end did not train.
source /work/main/.venv/bin/activate
WS=/work/bench_ws/wse
while pgrep -f "report_markov_s0" > /dev/null; do sleep 15; done
set -x
for s in 1 2; do
nnunet-svl benchmark --workspace $WS --preset cpu --protocols dilate --ratios 1.0 --methods nnUNetTrainer nnUNetTrainerSVLDRL_EdgeRepair --no-clean-methods --seeds $s -o $WS/report_r1_s$s
nnunet-svl benchmark --workspace $WS --preset cpu --protocols markov --methods nnUNetTrainer nnUNetTrainerSVLDRL_EdgeRepair --no-clean-methods --seeds $s -o $WS/report_markov_s$s
done
nnunet-svl benchmark --workspace $WS --preset cpu --protocols mt dilate --methods nnUNetTrainer nnUNetTrainerSVLDRL nnUNetTrainerSVLDRL_EdgeRepair --no-clean-methods --seeds 0 -o $WS/report_mtdil_s0
