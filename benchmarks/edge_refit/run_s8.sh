#!/bin/bash
# Eighth session: the previous 40^3 preset (cpu40), seed 2 with the default trainer (the #13 "no regression" row was
# measured on seeds 0 and 1 only), then the three-seed report. One training at a time (2 cores).
source /work/main/.venv/bin/activate
WS40=${WS40:-/work/bench_ws/ws40}
set -x
nnunet-svl benchmark --workspace $WS40 --preset cpu40 --protocols mt dilate --methods nnUNetTrainer nnUNetTrainerSVLDRL --no-clean-methods --seeds 2 -o $WS40/report_cpu40_s2
nnunet-svl benchmark --workspace $WS40 --preset cpu40 --protocols mt dilate --methods nnUNetTrainer nnUNetTrainerSVLDRL --no-clean-methods --seeds 0 1 2 -o $WS40/report_cpu40_s012
