#!/bin/bash
# new code (/work/dev) on the shared bench data; baselines linked from ws
cd /work/dev && source /work/main/.venv/bin/activate && export PYTHONPATH=/work/dev
W=/work/bench_ws/ws2
nnunet-svl benchmark --workspace $W --preset cpu --protocols dilate --ratios 1.0 --no-clean-methods --methods nnUNetTrainer nnUNetTrainerSVLDRL --seeds 0 -o $W/report_r1_s0
nnunet-svl benchmark --workspace $W --preset cpu --protocols mt dilate --methods nnUNetTrainer nnUNetTrainerSVLDRL --seeds 0 1 2 -o $W/report_half
nnunet-svl benchmark --workspace $W --preset cpu --protocols dilate --ratios 1.0 --no-clean-methods --methods nnUNetTrainer nnUNetTrainerSVLDRL --seeds 0 1 2 -o $W/report_r1
