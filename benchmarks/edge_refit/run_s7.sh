#!/bin/bash
# Seventh session: the rows run_s6b.sh left (stopped for time): the previous 40^3 preset (cpu40) seeds 1 and 2 with the
# default trainer, then markov seed 2 and dilate rho 1 with the refit beside the workspace's earlier runs.
# One training at a time (2 cores); finished runs are re-read.
source /work/main/.venv/bin/activate
WS=${WS:-/work/bench_ws/wse}
WS40=${WS40:-/work/bench_ws/ws40}
M="nnUNetTrainer nnUNetTrainerSVLDRL_EdgeRepair nnUNetTrainerSVLDRL_EdgeRefit"
set -x
for s in 1 2; do
  nnunet-svl benchmark --workspace $WS40 --preset cpu40 --protocols mt dilate --methods nnUNetTrainer nnUNetTrainerSVLDRL --no-clean-methods --seeds $s -o $WS40/report_cpu40_s$s
done
nnunet-svl benchmark --workspace $WS40 --preset cpu40 --protocols mt dilate --methods nnUNetTrainer nnUNetTrainerSVLDRL --no-clean-methods --seeds 0 1 2 -o $WS40/report_cpu40_s012
nnunet-svl benchmark --workspace $WS --preset cpu --protocols markov --methods $M --no-clean-methods --seeds 2 -o $WS/report_refit_markov_s2
nnunet-svl benchmark --workspace $WS --preset cpu --protocols markov --methods $M --no-clean-methods --seeds 0 1 2 -o $WS/report_refit_markov_s012
for s in 0 1 2; do
  nnunet-svl benchmark --workspace $WS --preset cpu --protocols dilate --ratios 1.0 --methods $M --no-clean-methods --seeds $s -o $WS/report_refit_r1_s$s
done
nnunet-svl benchmark --workspace $WS --preset cpu --protocols dilate --ratios 1.0 --methods $M --no-clean-methods --seeds 0 1 2 -o $WS/report_refit_r1_s012
