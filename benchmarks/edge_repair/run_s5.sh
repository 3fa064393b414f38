#!/bin/bash
# Fifth session (2026-12-01): the third seed of every #13 row with the edge repair (default since 544e047), and the
# clean-labels row on seeds 1 and 2. One training at a time (2 cores). Combined reports: report_all.sh.
source /work/main/.venv/bin/activate
WS=${WS:-/work/bench_ws/wse}
set -x
nnunet-svl benchmark --workspace $WS --preset cpu --protocols dilate --methods nnUNetTrainer nnUNetTrainerSVLDRL_EdgeRepair --no-clean-methods --seeds 2 -o $WS/report_dil_s2
nnunet-svl benchmark --workspace $WS --preset cpu --protocols markov --methods nnUNetTrainer nnUNetTrainerSVLDRL_EdgeRepair --no-clean-methods --seeds 2 -o $WS/report_markov_s2
nnunet-svl benchmark --workspace $WS --preset cpu --protocols dilate --ratios 1.0 --methods nnUNetTrainer nnUNetTrainerSVLDRL_EdgeRepair --seeds 2 -o $WS/report_r1_s2
nnunet-svl benchmark --workspace $WS --preset cpu --protocols dilate --ratios 1.0 --methods nnUNetTrainer nnUNetTrainerSVLDRL_EdgeRepair --seeds 1 -o $WS/report_r1_s1c
