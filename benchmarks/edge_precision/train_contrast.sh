#!/bin/bash
# Training at a fainter lesion contrast (1.0 noise sd instead of the benchmark's 1.75): the cpu preset's 24 / 20
# phantoms written with --lesion-contrast 1.0 as the workspace's demo dataset, then the benchmark on the clean labels
# and dilate rho 0.5, seeds 0 and 1 (_EdgePrecise on seed 0 only). About 45 minutes on 2 cores.
#   bash train_contrast.sh WS [METHOD ...]     (default methods: nnUNetTrainer nnUNetTrainerSVLDRL
#                                                nnUNetTrainerSVLDRL_EdgeAnyStep nnUNetTrainerSVLDRL_EdgePrecise)
set -e
WS=$1; shift
METHODS=${*:-nnUNetTrainer nnUNetTrainerSVLDRL nnUNetTrainerSVLDRL_EdgeAnyStep nnUNetTrainerSVLDRL_EdgePrecise}
[ -d "$WS/raw/Dataset990_SVLDemo" ] || nnunet-svl demo-dataset --raw-root "$WS/raw" --dataset-id 990 --n-train 24 \
    --n-test 20 --shape 40 40 40 --lesion-contrast 1.0
nnunet-svl benchmark --workspace "$WS" --preset cpu --protocols dilate --ratios 0.5 --methods $METHODS --seeds 0 \
    -o "$WS/report_contrast1_s0"
nnunet-svl benchmark --workspace "$WS" --preset cpu --protocols dilate --ratios 0.5 \
    --methods nnUNetTrainer nnUNetTrainerSVLDRL nnUNetTrainerSVLDRL_EdgeAnyStep --seeds 1 -o "$WS/report_contrast1_s1"
nnunet-svl benchmark --workspace "$WS" --preset cpu --protocols dilate --ratios 0.5 \
    --methods nnUNetTrainer nnUNetTrainerSVLDRL nnUNetTrainerSVLDRL_EdgeAnyStep --seeds 0 1 -o "$WS/report_contrast1_s01"
