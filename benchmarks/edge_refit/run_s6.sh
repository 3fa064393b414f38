#!/bin/bash
# Sixth session (2026-12-01): the refit default (edge_repair_steps 3) on the #13 rows not yet trained with it
# (markov, dilate rho 1; 3 seeds each, beside nnUNetTrainer and the one-step repair already in the workspace, re-read),
# then the previous 40^3 preset (cpu40) mt / dilate, 3 seeds, with the default trainer on a fresh workspace.
# One training at a time (2 cores).
source /work/main/.venv/bin/activate
WS=${WS:-/work/bench_ws/wse}
WS40=${WS40:-/work/bench_ws/ws40}
M="nnUNetTrainer nnUNetTrainerSVLDRL_EdgeRepair nnUNetTrainerSVLDRL_EdgeRefit"
set -x
for s in 0 1 2; do
  nnunet-svl benchmark --workspace $WS --preset cpu --protocols markov --methods $M --no-clean-methods --seeds $s -o $WS/report_refit_markov_s$s
done
for s in 0 1 2; do
  nnunet-svl benchmark --workspace $WS --preset cpu --protocols dilate --ratios 1.0 --methods $M --no-clean-methods --seeds $s -o $WS/report_refit_r1_s$s
done
for s in 0 1 2; do
  nnunet-svl benchmark --workspace $WS40 --preset cpu40 --protocols mt dilate --methods nnUNetTrainer nnUNetTrainerSVLDRL --no-clean-methods --seeds $s -o $WS40/report_cpu40_s$s
done
