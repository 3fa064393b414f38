#!/bin/bash
# Fourth session (2026-12-01). Ran: seeds 0 and 1 of mt / dilate rho 0.5 (report_mtdil_s0, report_mtdil_s1); stopped
# in seed 2's preprocessing for the session end: seed 2 and the dilate rho 1 / markov / clean lines did not run.
source /work/main/.venv/bin/activate
WS=/work/bench_ws/wse
set -x
for s in 0 1 2; do
nnunet-svl benchmark --workspace $WS --preset cpu --protocols mt dilate --methods nnUNetTrainer nnUNetTrainerSVLDRL_EdgeRepair --no-clean-methods --seeds $s -o $WS/report_mtdil_s$s
done
nnunet-svl benchmark --workspace $WS --preset cpu --protocols dilate --ratios 1.0 --methods nnUNetTrainer nnUNetTrainerSVLDRL_EdgeRepair --seeds 2 -o $WS/report_r1_s2
nnunet-svl benchmark --workspace $WS --preset cpu --protocols markov --methods nnUNetTrainer nnUNetTrainerSVLDRL_EdgeRepair --no-clean-methods --seeds 2 -o $WS/report_markov_s2
nnunet-svl benchmark --workspace $WS --preset cpu --protocols dilate --ratios 1.0 --methods nnUNetTrainer nnUNetTrainerSVLDRL_EdgeRepair --seeds 1 -o $WS/report_r1_s1c
