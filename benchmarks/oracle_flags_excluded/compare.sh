#!/bin/bash
# Perfect flags with flagged cases left out (`nnUNetTrainerSVLDRL_OracleFlags`, since f51f70e) against the default
# (the teacher's flags, the same exclusion; trained as `_ExcludeFlagged` at fc05e4f, the same training as the default,
# BENCHMARKS.md) and against nnUNetTrainer, paired per seed and test case.
#   bash compare.sh WS_ORACLE WS_DEFAULT SEEDS     e.g. bash compare.sh /work/bench_ws/ws3 /work/bench_ws/ws2 "0 1 2"
WO=$1; WD=$2; SEEDS=${3:-"0 1 2"}
NC="$(dirname "$0")/../oracles_gated/null_compare.py"
for proto in mt dilate; do
  a=(); b=()
  for s in $SEEDS; do
    ds=$(basename $(ls -d $WD/benchmark_predictions/seed$s/Dataset*_SVLDemo_${proto}_r0p5_s$s))
    o=$WO/benchmark_predictions/seed$s/$ds/nnUNetTrainerSVLDRL_OracleFlags_bench/svl_evaluation.json
    d=$WD/benchmark_predictions/seed$s/$ds/nnUNetTrainerSVLDRL_ExcludeFlagged_bench/svl_evaluation.json
    base=$WD/benchmark_predictions/seed$s/$ds/nnUNetTrainerBaseline_bench/svl_evaluation.json
    [ -f "$o" ] || continue
    a+=("$s:$o:$d"); b+=("$s:$o:$base")
  done
  python "$NC" "$proto: oracle flags (excluded) - default (teacher flags, excluded)" "${a[@]}"
  python "$NC" "$proto: oracle flags (excluded) - nnUNetTrainer" "${b[@]}"
done
