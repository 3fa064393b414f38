#!/bin/bash
# (time per epoch is left out: these runs were niced beside other work)
# The decomposition's rows from the per-ablation reports run_s9.sh wrote (WS/report_decomp_<trainer>_s<S>):
#   bash benchmarks/decomposition/table.sh /work/bench_ws/wse 0
WS=$1; S=${2:-0}
echo "| trainer (mt ρ 0.5, seed $S, preset cpu) | Dice | Δ vs nnUNetTrainer (pts) | 95 % t | label repair (pts) | clean-case labels kept (Dice) |"
echo "|---|---|---|---|---|---|"
for r in $WS/report_decomp_*_s$S/benchmark.md; do
  t=$(basename $(dirname $r)); t=${t#report_decomp_}; t=nnUNetTrainer${t%_s$S}
  sum=$(grep "^| mt_r0.5 | $t |" $r)
  run=$(grep "^| $t |" $r)
  [ -z "$sum" ] && continue
  echo "$sum" | awk -F'|' -v run="$run" '{split(run, q, "|"); printf "| %s | %s | %s | %s | %s | %s |\n", $3, $6, $7, $8, q[7], q[8]}'
done
