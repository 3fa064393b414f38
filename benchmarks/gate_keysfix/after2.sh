#!/bin/bash
while [ ! -f /work/bench_ws/watch_done ]; do sleep 5; done
PROFILE=0 bash /work/main/benchmarks/overhead/run_timing.sh /work/timing2 > /work/timing2/run.log 2>&1
echo done > /work/timing2/done
cd /work/main && source .venv/bin/activate
export NNUNET_SVL_MEMORISATION_EVERY=4
nnunet-svl benchmark --workspace /work/bench_ws/ws --preset cpu --protocols dilate --ratios 1.0 --no-clean-methods \
  --methods nnUNetTrainer nnUNetTrainerSVLDRL --seeds 0 -o /work/bench_ws/report_r1 > /work/bench_ws/r1.log 2>&1
echo done > /work/bench_ws/r1_done
