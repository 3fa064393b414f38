#!/bin/bash
# Stop the 3-method benchmark before its seed-2 ExcludeFlagged runs (CPU budget of the session), then train
# nnUNetTrainerSVLDRL on seed 2 and write the reports from the finished runs.
cd /work/bench_ws
until grep -q "ExcludeFlagged on clean_s1: training" keysfix2.log; do
  if ! pgrep -f run_keysfix.sh > /dev/null; then break; fi
  sleep 10
done
# the benchmark's whole process group (its nnUNetv2_train children included), nothing else (CI may run meanwhile)
PGID=$(ps -o pgid= -p $(pgrep -f run_keysfix.sh | head -1) | tr -d ' ')
[ -n "$PGID" ] && kill -- -$PGID; sleep 5
rm -rf ws/results_seed1/Dataset990_SVLDemo/nnUNetTrainerSVLDRL_ExcludeFlagged_bench__*
cd /work/main && source .venv/bin/activate
export NNUNET_SVL_MEMORISATION_EVERY=4
nnunet-svl benchmark --workspace /work/bench_ws/ws --preset cpu --protocols mt dilate \
  --methods nnUNetTrainer nnUNetTrainerSVLDRL --seeds 0 1 2 -o /work/bench_ws/report_keysfix > /work/bench_ws/keysfix3.log 2>&1
nnunet-svl benchmark --workspace /work/bench_ws/ws --preset cpu --protocols mt dilate \
  --methods nnUNetTrainer nnUNetTrainerSVLDRL_ExcludeFlagged --seeds 0 -o /work/bench_ws/report_exclude > /work/bench_ws/keysfix4.log 2>&1
echo done > /work/bench_ws/watch_done
