#!/bin/bash
# 3-seed benchmark with the batch-keys fix (2c51a8d): nnUNetTrainer runs reused from the 09:35 run (unchanged code path),
# nnUNetTrainerSVLDRL retrained, nnUNetTrainerSVLDRL_ExcludeFlagged added.
cd /work/main && source .venv/bin/activate
export NNUNET_SVL_MEMORISATION_EVERY=4
nnunet-svl benchmark --workspace /work/bench_ws/ws --preset cpu --protocols mt dilate \
  --methods nnUNetTrainer nnUNetTrainerSVLDRL nnUNetTrainerSVLDRL_ExcludeFlagged --seeds 0 1 2 -o /work/bench_ws/report_keysfix
