"""Seconds per label round with one tile per network call against ``round_tile_batch`` tiles, interleaved on the same
trainer and weights (so a change of machine load hits both alike).

    python round_time.py DATASET_ID TRAINER PLANS CHECKPOINT [REPS]
e.g. with the environment of benchmarks/overhead/run_timing.sh (nnUNet_raw / _preprocessed of the benchmark
workspace, a scratch nnUNet_results):
    python round_time.py 901 nnUNetTrainerDALE_bench nnUNetPlans_narrow \
        TIMING/results/Dataset901_*/nnUNetTrainerDALE_bench__nnUNetPlans_narrow__3d_fullres/fold_all/checkpoint_final.pth
The trained weights are loaded into the network and the teacher; one round first decides the teacher gate's flags.
"""
import sys
import time
from dataclasses import replace

import torch
from nnunetv2.run.run_training import get_trainer_from_args

from nnunet_svl.teacher.part import TeacherGatePart


def main(dataset: str, trainer_name: str, plans: str, checkpoint: str, reps: int = 3) -> None:
    trainer = get_trainer_from_args(dataset, "3d_fullres", "all", trainer_name, plans, device=torch.device("cpu"))
    trainer.on_train_start()
    try:
        weights = torch.load(checkpoint, map_location="cpu", weights_only=False)["network_weights"]
        trainer.network.load_state_dict(weights)
        gate = trainer.part(TeacherGatePart)
        if gate is not None:
            gate.teacher.model.load_state_dict(weights)
        trainer.current_epoch = trainer.num_epochs - 1          # a round is due at the last epoch
        base = trainer.cfg
        trainer.run_label_round()                               # flags decided from the trained weights
        times = {1: [], base.round_tile_batch: []}
        for _ in range(int(reps)):
            for batch in times:
                trainer.cfg = replace(base, round_tile_batch=batch)
                t = time.perf_counter()
                summary = trainer.run_label_round()
                times[batch].append(time.perf_counter() - t)
        print(f"{trainer_name}, {len(trainer.training_case_ids())} cases, flagged {summary.get('gate_flagged')}, "
              f"torch threads {torch.get_num_threads()}")
        for batch, t in times.items():
            print(f"  round_tile_batch {batch}: {sorted(t)[len(t) // 2]:.2f} s per round (median of {len(t)}; "
                  f"{', '.join(f'{x:.2f}' for x in t)})")
    finally:
        trainer.on_train_end()


if __name__ == "__main__":
    main(*sys.argv[1:])
