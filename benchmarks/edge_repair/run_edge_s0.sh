#!/bin/bash
# Run as written up to the markov command; the mt / dilate line was moved to run_edge_rest.sh (and not reached).
# edge-repair experiments, seed 0, cpu preset (sequential; one workspace)
source /work/main/.venv/bin/activate
WS=/work/bench_ws/wse
set -x
nnunet-svl benchmark --workspace $WS --preset cpu --protocols dilate --ratios 1.0 --methods nnUNetTrainer nnUNetTrainerSVLDRL_EdgeRepair --seeds 0 -o $WS/report_r1_s0
nnunet-svl benchmark --workspace $WS --preset cpu --protocols markov --methods nnUNetTrainer nnUNetTrainerSVLDRL_EdgeRepair --no-clean-methods --seeds 0 -o $WS/report_markov_s0
nnunet-svl benchmark --workspace $WS --preset cpu --protocols mt dilate --methods nnUNetTrainer nnUNetTrainerSVLDRL nnUNetTrainerSVLDRL_EdgeRepair --no-clean-methods --seeds 0 -o $WS/report_mtdil_s0
