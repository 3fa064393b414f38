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
