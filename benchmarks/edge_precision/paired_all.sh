#!/bin/bash
# The paired differences of BENCHMARKS.md, "The edge repair at a fainter lesion contrast" (paired.py on the test
# predictions; run folders as run_step_rule.sh and train_contrast.sh leave them).
#   bash paired_all.sh WS_CONTRAST WS_GRID > paired_output.txt
C=$1; W=$2; D="$(cd "$(dirname "$0")" && pwd)"; T=nnUNetTrainerSVLDRL_bench; B=nnUNetTrainerBaseline_bench
LC=$C/raw/Dataset990_SVLDemo/labelsTs; LW=$W/raw/Dataset990_SVLDemo/labelsTs
p() { python "$D/paired.py" "$@"; echo; }
pw() { echo "$W/benchmark_predictions/seed$1/$2"; }
for sd in 0 1; do
  pc() { echo "$C/benchmark_predictions/seed$sd/$1"; }
  DS=$(basename "$(ls -d $C/benchmark_predictions/seed$sd/Dataset9*_dilate_r0p5_s$sd)")
  for ds in Dataset990_SVLDemo $DS; do
    echo "== contrast 1.0, seed $sd, $ds: the earlier default (_EdgeAnyStep) and the default, each − nnUNetTrainer; then default − earlier"
    p $LC $(pc $ds)/$B $(pc $ds)/nnUNetTrainerSVLDRL_EdgeAnyStep_bench
    p $LC $(pc $ds)/$B $(pc $ds)/$T
    p $LC $(pc $ds)/nnUNetTrainerSVLDRL_EdgeAnyStep_bench $(pc $ds)/$T
  done
done
echo "== 1.75: the default (.step_rule) − the earlier default where a decision changed, and mt rho 0.5 s0 where none did"
p $LW $(pw 1 Dataset908_SVLDemo_dilate_r0p5_s1)/$T $(pw 1 Dataset908_SVLDemo_dilate_r0p5_s1)/$T.step_rule
p $LW $(pw 2 Dataset910_SVLDemo_dilate_r0p5_s2)/$T $(pw 2 Dataset910_SVLDemo_dilate_r0p5_s2)/$T.step_rule
p $LW $(pw 0 Dataset901_SVLDemo_mt_r0p5_s0)/$T $(pw 0 Dataset901_SVLDemo_mt_r0p5_s0)/$T.step_rule
echo "== 1.75, dilate rho 0.5, 3 seeds: the default − nnUNetTrainer (seed 0: no decision changes, its run stands)"
p $LW $(pw 0 Dataset907_SVLDemo_dilate_r0p5_s0)/$B $(pw 0 Dataset907_SVLDemo_dilate_r0p5_s0)/$T \
  $LW $(pw 1 Dataset908_SVLDemo_dilate_r0p5_s1)/$B $(pw 1 Dataset908_SVLDemo_dilate_r0p5_s1)/$T.step_rule \
  $LW $(pw 2 Dataset910_SVLDemo_dilate_r0p5_s2)/$B $(pw 2 Dataset910_SVLDemo_dilate_r0p5_s2)/$T.step_rule
echo "== 1.75: _EdgePrecise − the earlier default"
for grp in "0:905_SVLDemo_dilate_r1_s0 1:913_SVLDemo_dilate_r1_s1 2:915_SVLDemo_dilate_r1_s2" \
           "0:906_SVLDemo_markov_r1_s0 1:912_SVLDemo_markov_r1_s1 2:916_SVLDemo_markov_r1_s2" \
           "0:907_SVLDemo_dilate_r0p5_s0 1:908_SVLDemo_dilate_r0p5_s1 2:910_SVLDemo_dilate_r0p5_s2" \
           "2:914_SVLDemo_markov_r0p5_s2"; do
  args=""
  for x in $grp; do args="$args $LW $(pw ${x%%:*} Dataset${x#*:})/$T $(pw ${x%%:*} Dataset${x#*:})/nnUNetTrainerSVLDRL_EdgePrecise_bench"; done
  p $args
done
