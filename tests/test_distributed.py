"""The plugin's DDP synchronisation on CPU: two real torch.distributed (gloo) processes share one label store."""
from __future__ import annotations

import json
import os
import socket

import numpy as np
import torch.distributed as dist
import torch.multiprocessing as mp

from nnunet_svl.runtime.distributed import all_mean, all_sum, run_synchronised_round, shard
from nnunet_svl.runtime.label_store import LabelStore

CASES = [f"case_{i}" for i in range(5)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, root: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        store = LabelStore(root)
        processed = []

        def process(case: str, round_index: int) -> dict:
            processed.append(case)
            label = np.full((1, 2, 2, 2), round_index, dtype=np.int16)
            store.stage_case(round_index, case, label)
            return {"flipped": 1, "rank_sum": rank}

        results = []
        for _ in range(2):
            results.append(run_synchronised_round(store, CASES, process, summary={"kind": "test"}))
        mean = all_mean([float(rank)] * (rank + 1))   # rank 0 contributes [0], rank 1 contributes [1, 1]
        summed = all_sum({"x": rank + 1})
        with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
            json.dump({"processed": processed, "results": results, "seen_round": store.current_round,
                       "labels": {c: int(store.load(c).label.max()) for c in CASES},
                       "mean": mean, "summed": summed}, f)
        dist.barrier()            # both ranks done with their collectives before either tears the group down
    finally:
        dist.destroy_process_group()


def test_two_rank_label_rounds(tmp_path):
    root, out = tmp_path / "store", tmp_path / "out"
    out.mkdir()
    mp.spawn(_worker, args=(2, _free_port(), str(root), str(out)), nprocs=2, join=True)
    r0 = json.loads((out / "rank0.json").read_text())
    r1 = json.loads((out / "rank1.json").read_text())
    # each case corrected exactly once per round, split between the ranks
    assert sorted(r0["processed"] + r1["processed"]) == sorted(CASES * 2)
    assert set(r0["processed"]).isdisjoint(r1["processed"])
    # both ranks see the same committed rounds and the same labels
    assert r0["seen_round"] == r1["seen_round"] == 2
    assert r0["labels"] == r1["labels"] == {c: 2 for c in CASES}
    # statistics are reduced across ranks: 5 flips per round, rank ids summed over cases (rank 1 has 2 cases)
    for (rnd0, tot0), (rnd1, tot1) in zip(r0["results"], r1["results"]):
        assert rnd0 == rnd1 and tot0 == tot1 == {"flipped": 5, "rank_sum": 2}
    assert r0["mean"] == r1["mean"] == 2 / 3
    assert r0["summed"] == r1["summed"] == {"x": 3}
    history = LabelStore(root).history()
    assert [h["round"] for h in history] == [1, 2] and all(h["flipped"] == 5 for h in history)


def test_shard_covers_every_case_once():
    parts = [shard(CASES, r, 3) for r in range(3)]
    assert sorted(sum(parts, [])) == sorted(CASES)
    assert parts[0] == ["case_0", "case_3"]


def _head_worker(rank: int, world: int, port: int, out: str) -> None:
    import torch

    from nnunet_svl.rl.head import VA3CHead
    from nnunet_svl.runtime.distributed import average_gradients

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)                                   # same initial head on both ranks (as in the trainer)
        head = VA3CHead(4, 1, dim=3, hidden=4)
        opt = torch.optim.SGD(head.parameters(), lr=0.1, momentum=0.9)
        for step in range(3):
            opt.zero_grad(set_to_none=True)
            if not (rank == 1 and step == 1):                  # rank 1 has no flagged case in step 1: no head loss
                g = torch.Generator().manual_seed(100 * rank + step)
                x = torch.randn(1, 4, 3, 3, 3, generator=g)
                logits, value = head.decide(head.embed(x), torch.rand(1, 1, 3, 3, 3, generator=g))
                (logits.square().mean() + value.mean()).backward()
            average_gradients([p for p in head.parameters() if p.requires_grad])
            opt.step()
        torch.save(head.state_dict(), os.path.join(out, f"head{rank}.pt"))
        # Both ranks past their last collective before either tears down gloo: without it a rank that destroys its
        # group while the other still exchanges with it aborted once under CI load (SIGABRT, "terminate called
        # without an active exception"). Only on success, so a failing rank does not wait out the gloo timeout.
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_two_ranks_end_with_the_same_head(tmp_path):
    """DDP synchronises only nnU-Net's network; the vA3C head's gradients are averaged over ranks by
    average_gradients (trainers/base.py calls it before clipping), also when one rank's batch had no head loss."""
    import torch

    mp.spawn(_head_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    a, b = (torch.load(tmp_path / f"head{r}.pt") for r in (0, 1))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    torch.manual_seed(0)
    from nnunet_svl.rl.head import VA3CHead

    initial = VA3CHead(4, 1, dim=3, hidden=4).state_dict()
    assert any(not torch.equal(a[k], initial[k]) for k in a)   # it did train
