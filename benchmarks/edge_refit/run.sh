#!/bin/bash
# Offline: python refit_steps.py --steps 3 RAW/Dataset9*  (the wse workspace raw datasets of mt / dilate / markov rho 0.5 and dilate rho 1; ~20 min niced beside a training)
# Fifth session (2026-12-01): the refit steps (nnUNetTrainerSVLDRL_EdgeRefit, edge_repair_steps 3) beside the one-step
# repair (nnUNetTrainerSVLDRL_EdgeRepair, the default) and nnUNetTrainer, on the workspace of the fourth session
# (finished trainings are re-read, not retrained). One training at a time (2 cores), in order of the offline gain.
source /work/main/.venv/bin/activate
WS=${WS:-/work/bench_ws/wse}
M="nnUNetTrainer nnUNetTrainerSVLDRL_EdgeRepair nnUNetTrainerSVLDRL_EdgeRefit"
set -x
for run in "dilate 1" "dilate 0" "dilate 2" "mt 0" "mt 2" "mt 1"; do
  set -- $run
  nnunet-svl benchmark --workspace $WS --preset cpu --protocols $1 --methods $M --no-clean-methods --seeds $2 -o $WS/report_refit_$1_s$2
done
