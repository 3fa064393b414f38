#!/bin/bash
# Seventh session, last: the clean labels of seeds 0 and 1 with the new default (run_s7c.sh was stopped to give the
# fresh-clone CI the machine), then the three-seed clean/mt report.
source /work/main/.venv/bin/activate
WS=${WS:-/work/bench_ws/wse}
set -x
for s in 0 1; do
  nnunet-svl benchmark --workspace $WS --preset cpu --protocols mt --methods nnUNetTrainer nnUNetTrainerSVLDRL --seeds $s -o $WS/report_edgeflags_mtclean_s$s
done
nnunet-svl benchmark --workspace $WS --preset cpu --protocols mt --methods nnUNetTrainer nnUNetTrainerSVLDRL --seeds 0 1 2 -o $WS/report_edgeflags_mtclean_s012
