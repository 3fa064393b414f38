#!/bin/bash
# How the step rule's training figures were made (BENCHMARKS.md, "The edge repair at a fainter lesion contrast").
# The default trainer's name is the same before and after the rule, so the earlier default's runs are moved aside
# (suffix .pre_step_rule), the benchmark trains the new default, and then the new runs get the suffix .step_rule and
# the earlier ones their names back (the sixteenth session's committed reports read those).
#   bash run_step_rule.sh GRID_WS      (the sixteenth session's grid workspace, its runs of the earlier default)
# The contrast-1.0 workspace: train_contrast.sh (there the earlier default's runs are _EdgeAnyStep's).
set -e
W=$1; T=nnUNetTrainerSVLDRL_bench
aside() {   # WS SEED DATASET
  mv "$1/results_seed$2/$3/${T}__nnUNetPlans_narrow__3d_fullres" "$1/results_seed$2/$3/${T}__nnUNetPlans_narrow__3d_fullres.pre_step_rule"
  mv "$1/benchmark_predictions/seed$2/$3/$T" "$1/benchmark_predictions/seed$2/$3/$T.pre_step_rule"
}
back() {
  mv "$1/results_seed$2/$3/${T}__nnUNetPlans_narrow__3d_fullres" "$1/results_seed$2/$3/${T}__nnUNetPlans_narrow__3d_fullres.step_rule"
  mv "$1/benchmark_predictions/seed$2/$3/$T" "$1/benchmark_predictions/seed$2/$3/$T.step_rule"
  mv "$1/results_seed$2/$3/${T}__nnUNetPlans_narrow__3d_fullres.pre_step_rule" "$1/results_seed$2/$3/${T}__nnUNetPlans_narrow__3d_fullres"
  mv "$1/benchmark_predictions/seed$2/$3/$T.pre_step_rule" "$1/benchmark_predictions/seed$2/$3/$T"
}
# the benchmark's contrast: dilate rho 0.5 seeds 1, 2 (the rule keeps one label each in place) and mt rho 0.5 seed 0
# (no decision changes: the run repeats the earlier default's, final weights bit for bit)
for sd in "1 Dataset908_SVLDemo_dilate_r0p5_s1 dilate" "2 Dataset910_SVLDemo_dilate_r0p5_s2 dilate" \
          "0 Dataset901_SVLDemo_mt_r0p5_s0 mt"; do
  set -- $sd
  aside $W $1 $2
  nnunet-svl benchmark --workspace $W --preset cpu --protocols $3 --ratios 0.5 \
      --methods nnUNetTrainer nnUNetTrainerSVLDRL --no-clean-methods --seeds $1 -o $W/report_step_rule_$3_s$1
  back $W $1 $2
done
# _EdgePrecise (the step rule + the offset's precision) where its decisions differ from the default; nnUNetTrainerSVLDRL
# in these reports is the earlier default's run (the names restored above)
nnunet-svl benchmark --workspace $W --preset cpu --protocols dilate --ratios 1.0 \
    --methods nnUNetTrainer nnUNetTrainerSVLDRL nnUNetTrainerSVLDRL_EdgePrecise --no-clean-methods --seeds 0 1 2 \
    -o $W/report_precise_dilate_r1
nnunet-svl benchmark --workspace $W --preset cpu --protocols dilate --ratios 0.5 \
    --methods nnUNetTrainer nnUNetTrainerSVLDRL nnUNetTrainerSVLDRL_EdgePrecise --no-clean-methods --seeds 0 1 2 \
    -o $W/report_precise_dilate_r0p5
nnunet-svl benchmark --workspace $W --preset cpu --protocols markov --ratios 1.0 \
    --methods nnUNetTrainer nnUNetTrainerSVLDRL nnUNetTrainerSVLDRL_EdgePrecise --no-clean-methods --seeds 0 1 2 \
    -o $W/report_precise_markov_r1
nnunet-svl benchmark --workspace $W --preset cpu --protocols markov --ratios 0.5 \
    --methods nnUNetTrainer nnUNetTrainerSVLDRL nnUNetTrainerSVLDRL_EdgePrecise --no-clean-methods --seeds 2 \
    -o $W/report_precise_markov_r0p5_s2
