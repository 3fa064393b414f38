"""The real ``nnUNetTrainerSVLDRL_tiny`` under DDP on CPU: two gloo processes run its ``train_step`` and a label round
(issue 14, item 3).

nnU-Net 2.8.1 runs DDP on CUDA only (its ``__init__`` moves a DDP trainer to ``cuda:<rank>`` and ``initialize`` gives
``DistributedDataParallel`` a device id). This CPU test undoes exactly those two lines — the trainer is put back on the
CPU before ``initialize`` and DDP wraps the CPU network without a device id — and leaves everything else as nnU-Net
runs it: the per-rank batch size, the DDP-wrapped network, the plugin's gradient averaging of the vA3C head, the
synchronised label round. The CUDA path itself needs a GPU (README, "Multi-GPU").

The control run switches the head's gradient averaging off: the heads then differ between the ranks (each rank's
rollout draws its own actions), so the test can tell a synchronised head from an unsynchronised one.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import torch.distributed as dist
import torch.multiprocessing as mp

from conftest import NARROW, NOISY_ID

STEPS = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str, synchronise_head: bool) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        import torch
        from nnunetv2.run.run_training import get_trainer_from_args
        from torch.nn.parallel import DistributedDataParallel

        import nnunetv2.training.nnUNetTrainer.nnUNetTrainer as nnunet_trainer_module
        from nnunet_svl.teacher.part import TeacherGatePart
        from nnunet_svl.trainers import base

        # the two CUDA-only lines of nnU-Net's DDP set-up (module docstring)
        nnunet_trainer_module.DDP = lambda module, device_ids=None, **kw: DistributedDataParallel(module, **kw)
        if not synchronise_head:
            base.average_gradients = lambda parameters: None
        trainer = get_trainer_from_args(str(NOISY_ID), "3d_fullres", 0, "nnUNetTrainerSVLDRL_tiny", NARROW,
                                        device=torch.device("cpu"))
        assert trainer.is_ddp and trainer.local_rank == rank
        trainer.device, trainer.grad_scaler = torch.device("cpu"), None
        trainer.on_train_start()
        try:
            assert isinstance(trainer.network, DistributedDataParallel)
            trainer.current_epoch = 2                  # full RL in the tiny schedule: head losses on flagged batches
            gate = trainer.part(TeacherGatePart)
            gate.flagged = set(trainer.training_case_ids())   # every batch has a flagged case: the head trains
            trainer.network.train()
            keys = []
            for _ in range(STEPS):
                batch = next(trainer.dataloader_train)
                keys += [str(k) for k in batch["keys"]]
                trainer.train_step(batch)
            head = {k: v.detach().cpu() for k, v in trainer.svl_modules.state_dict().items()}
            torch.save(head, os.path.join(out, f"head{rank}.pt"))

            processed: list[str] = []
            engine = trainer.round_engine
            process_case = engine.process_case

            def recorded(plan, case, *args, **kwargs):
                processed.append(case)
                return process_case(plan, case, *args, **kwargs)

            engine.process_case = recorded
            summary = trainer.run_label_round()
            Path(out, f"rank{rank}.json").write_text(json.dumps({
                "batch_size": trainer.batch_size, "keys": keys, "processed": processed, "summary": summary,
                "round": trainer.label_store.current_round, "cases": trainer.training_case_ids()}))
            dist.barrier()        # both ranks past their last collective before the group is torn down
        finally:
            trainer.on_train_end()
    finally:
        dist.destroy_process_group()


def _run(out: Path, synchronise_head: bool) -> tuple[dict, dict, dict, dict]:
    import torch

    out.mkdir()
    mp.spawn(_worker, args=(2, _free_port(), str(out), synchronise_head), nprocs=2, join=True)
    heads = [torch.load(out / f"head{r}.pt") for r in (0, 1)]
    infos = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    return heads[0], heads[1], infos[0], infos[1]


def _same(a: dict, b: dict) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_two_ranks_train_the_same_head_and_correct_each_case_once(isolated_results, tmp_path):
    a, b, r0, r1 = _run(tmp_path / "synchronised", synchronise_head=True)
    assert a, "no plugin modules"
    # nnU-Net split the global batch of 2 over the ranks
    assert r0["batch_size"] == r1["batch_size"] == 1
    # the head is the same on both ranks after real training steps
    assert _same(a, b)
    # one synchronised label round: every training case processed exactly once, on one rank, committed once
    assert sorted(r0["processed"] + r1["processed"]) == sorted(r0["cases"])
    assert set(r0["processed"]).isdisjoint(r1["processed"]) and r0["processed"] and r1["processed"]
    assert r0["round"] == r1["round"] and r0["summary"] == r1["summary"] and r0["summary"] is not None

    # control: without the head's gradient averaging the ranks' heads drift apart
    c0, c1, *_ = _run(tmp_path / "unsynchronised", synchronise_head=False)
    assert not _same(c0, c1)
