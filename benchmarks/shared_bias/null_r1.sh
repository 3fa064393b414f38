#!/bin/bash
# dilate rho = 1, seeds 0-2: the null (nnUNetTrainer retrained with training seed 100 + s against the benchmark's
# nnUNetTrainer) and the default (trained as `_ExcludeFlagged`, report_excl_r1) against nnUNetTrainer over both
# trajectories. Run the null first: bash benchmarks/oracles_gated/null_control.sh WS CODE NULL_OUT 907 908 909
#   bash null_r1.sh WS NULL_OUT
WS=$1; NULL=$2; P=$WS/benchmark_predictions; NC="$(dirname "$0")/../oracles_gated/null_compare.py"
null=(); method=(); s=0
for id in 907 908 909; do
  ds=$(basename $(ls -d $P/seed$s/Dataset${id}_*))
  base=$P/seed$s/$ds/nnUNetTrainerBaseline_bench/svl_evaluation.json
  n=$NULL/pred_${id}_t$((100 + s))/svl_evaluation.json
  null+=("$s:$n:$base"); method+=("$s:$P/seed$s/$ds/nnUNetTrainerSVLDRL_ExcludeFlagged_bench/svl_evaluation.json:$base+$n")
  s=$((s + 1))
done
python "$NC" "dilate rho 1: the null (nnUNetTrainer, training seed 100+s, vs the benchmark's)" "${null[@]}"
python "$NC" "dilate rho 1: the default vs nnUNetTrainer over 2 trajectories" "${method[@]}"
