#!/bin/bash
# Against nnUNetTrainer averaged over two training trajectories (the benchmark's, training seed s, and the null
# control's, training seed 100 + s: benchmarks/oracles_gated/null_control.sh), seeds 0-4; and the null itself.
#   bash trajectories.sh WS NULL_OUT       (WS: the benchmark workspace; NULL_OUT: null_control.sh's OUT)
WS=$1; NULL=$2
P=$WS/benchmark_predictions
cmp() {  # GROUP PROTOCOL_IDS METHOD_TRAINER [null]
  local group=$1 ids=$2 method=$3 mode=$4 pairs=() s=0
  for id in $ids; do
    ds=$(basename $(ls -d $P/seed$s/Dataset${id}_*))
    base=$P/seed$s/$ds/nnUNetTrainerBaseline_bench/svl_evaluation.json
    null=$NULL/pred_${id}_t$((100 + s))/svl_evaluation.json
    if [ "$mode" = null ]; then pairs+=("$s:$null:$base"); else pairs+=("$s:$P/seed$s/$ds/$method/svl_evaluation.json:$base+$null"); fi
    s=$((s + 1))
  done
  python "$(dirname "$0")/../oracles_gated/null_compare.py" "$group" "${pairs[@]}"
}
MT="901 902 903 910 911"; DILATE="904 905 906 912 913"
cmp "mt, nnUNetTrainer training seed 100+s vs the benchmark's (the null)" "$MT" - null
cmp "dilate, the null" "$DILATE" - null
for tr in nnUNetTrainerSVLDRL_bench nnUNetTrainerSVLDRL_ExcludeFlagged_bench; do
  cmp "mt: $tr vs nnUNetTrainer over 2 trajectories" "$MT" $tr
  cmp "dilate: $tr vs nnUNetTrainer over 2 trajectories" "$DILATE" $tr
done
