source /work/main/.venv/bin/activate
export OMP_WAIT_POLICY=PASSIVE NNUNET_SVL_MEMORISATION_EVERY=4
cd /work/bench_ws
nnunet-svl benchmark --workspace /work/bench_ws/ws --preset cpu --protocols mt dilate --methods nnUNetTrainer nnUNetTrainerSVLDRL --seeds 0 -o /work/bench_ws/report
