#!/bin/bash
# Seventh session, after 286d797 + 5858080 (the teacher gate reads the edge fits: flags labels without an intensity
# step, does not flag labels the image confirms): run_s7.sh was stopped after its cpu40 seed-1 benchmark (which
# trains with the new gate) and the queue reordered: the rows the change can move first (mt: the only protocol with
# labels without a step; the clean labels of seed 2: the one clean flag), then the rows left from the sixth session.
# One training at a time (2 cores); finished runs are re-read.
source /work/main/.venv/bin/activate
WS=${WS:-/work/bench_ws/wse}
WS40=${WS40:-/work/bench_ws/ws40}
while pgrep -f "nnunet-svl benchmark" > /dev/null; do sleep 20; done     # run_s7.sh's cpu40 seed-1 benchmark
set -x
# the new default on mt (and, seed 2, on the clean labels), cpu preset
nnunet-svl benchmark --workspace $WS --preset cpu --protocols mt --methods nnUNetTrainer nnUNetTrainerSVLDRL --seeds 2 -o $WS/report_edgeflags_mtclean_s2
for s in 0 1; do
  nnunet-svl benchmark --workspace $WS --preset cpu --protocols mt --methods nnUNetTrainer nnUNetTrainerSVLDRL --no-clean-methods --seeds $s -o $WS/report_edgeflags_mt_s$s
done
# beside the previous default (_EdgeRefit, trained before 286d797; re-read)
nnunet-svl benchmark --workspace $WS --preset cpu --protocols mt --methods nnUNetTrainer nnUNetTrainerSVLDRL_EdgeRefit nnUNetTrainerSVLDRL --no-clean-methods --seeds 0 1 2 -o $WS/report_edgeflags_mt_s012
# cpu40: seed 0's mt run predates 286d797 (kept aside as ..._pre286d797); seeds 0 (mt again) and 2
OLD=$WS40/results_seed0/Dataset905_SVLDemo_mt_r0p5_s0/nnUNetTrainerSVLDRL_bench__nnUNetPlans_narrow__3d_fullres
[ -d $OLD ] && mv $OLD ${OLD}_pre286d797
for s in 0 2; do
  nnunet-svl benchmark --workspace $WS40 --preset cpu40 --protocols mt dilate --methods nnUNetTrainer nnUNetTrainerSVLDRL --no-clean-methods --seeds $s -o $WS40/report_cpu40_s$s
done
nnunet-svl benchmark --workspace $WS40 --preset cpu40 --protocols mt dilate --methods nnUNetTrainer nnUNetTrainerSVLDRL --no-clean-methods --seeds 0 1 2 -o $WS40/report_cpu40_s012
# the clean labels, seeds 0 and 1, with the new default
for s in 0 1; do
  nnunet-svl benchmark --workspace $WS --preset cpu --protocols mt --methods nnUNetTrainer nnUNetTrainerSVLDRL --seeds $s -o $WS/report_edgeflags_mtclean_s$s
done
nnunet-svl benchmark --workspace $WS --preset cpu --protocols mt --methods nnUNetTrainer nnUNetTrainerSVLDRL --seeds 0 1 2 -o $WS/report_edgeflags_mtclean_s012
# left from the sixth session: markov seed 2 and dilate rho 1 with the refit
M="nnUNetTrainer nnUNetTrainerSVLDRL_EdgeRepair nnUNetTrainerSVLDRL_EdgeRefit"
nnunet-svl benchmark --workspace $WS --preset cpu --protocols markov --methods $M --no-clean-methods --seeds 2 -o $WS/report_refit_markov_s2
nnunet-svl benchmark --workspace $WS --preset cpu --protocols markov --methods $M --no-clean-methods --seeds 0 1 2 -o $WS/report_refit_markov_s012
for s in 0 1 2; do
  nnunet-svl benchmark --workspace $WS --preset cpu --protocols dilate --ratios 1.0 --methods $M --no-clean-methods --seeds $s -o $WS/report_refit_r1_s$s
done
