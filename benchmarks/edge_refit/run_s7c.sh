#!/bin/bash
# Seventh session, reordered once more for time (run_s7b.sh stopped during its cpu40 seed-0 benchmark, which goes on):
# the clean labels of seeds 0 and 1 with the new default (the no-harm row, all three seeds), then cpu40 seed 2.
source /work/main/.venv/bin/activate
WS=${WS:-/work/bench_ws/wse}
WS40=${WS40:-/work/bench_ws/ws40}
while pgrep -f "nnunet-svl benchmark" > /dev/null; do sleep 20; done     # run_s7b.sh's cpu40 seed-0 benchmark
set -x
for s in 0 1; do
  nnunet-svl benchmark --workspace $WS --preset cpu --protocols mt --methods nnUNetTrainer nnUNetTrainerSVLDRL --seeds $s -o $WS/report_edgeflags_mtclean_s$s
done
nnunet-svl benchmark --workspace $WS --preset cpu --protocols mt --methods nnUNetTrainer nnUNetTrainerSVLDRL --seeds 0 1 2 -o $WS/report_edgeflags_mtclean_s012
nnunet-svl benchmark --workspace $WS40 --preset cpu40 --protocols mt dilate --methods nnUNetTrainer nnUNetTrainerSVLDRL --no-clean-methods --seeds 2 -o $WS40/report_cpu40_s2
nnunet-svl benchmark --workspace $WS40 --preset cpu40 --protocols mt dilate --methods nnUNetTrainer nnUNetTrainerSVLDRL --no-clean-methods --seeds 0 1 2 -o $WS40/report_cpu40_s012
