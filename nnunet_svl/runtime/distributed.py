"""The plugin's synchronisation under nnU-Net's DDP (``-num_gpus N``), as plain torch.distributed code.

A label round must correct each training case exactly once, all ranks must see the same committed round, and the
statistics the round reports are reduced across ranks. Ranks share the label store through the file system: each rank
stages its share of the cases, a barrier waits for all of them, rank 0 commits the round (one atomic manifest write),
and a second barrier makes every rank read the same manifest. Without an initialised process group everything runs
on the single process.
"""
from __future__ import annotations

from typing import Callable, Mapping, Optional, Sequence

import torch
import torch.distributed as dist

from nnunet_svl.runtime.label_store import LabelStore


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank_and_world() -> tuple[int, int]:
    return (dist.get_rank(), dist.get_world_size()) if is_distributed() else (0, 1)


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def shard(items: Sequence, rank: int, world: int) -> list:
    """This rank's share of ``items`` (round-robin over the sorted order; every item in exactly one share)."""
    return list(sorted(items))[rank::world]


def all_sum(counts: Mapping[str, float]) -> dict[str, float]:
    """Sum a dict of numbers over all ranks (same keys on every rank)."""
    if not is_distributed():
        return dict(counts)
    gathered: list = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, dict(counts))
    return {k: sum(g[k] for g in gathered) for k in counts}


def all_gather_list(items: list) -> list[list]:
    """Every rank's list (a list of one list without DDP)."""
    if not is_distributed():
        return [list(items)]
    gathered: list = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, list(items))
    return gathered


def average_gradients(params: Sequence[torch.Tensor]) -> None:
    """Average the gradients of ``params`` over all ranks in place (one flat all-reduce, no host synchronisation):
    the plugin's modules (vA3C head) live outside nnU-Net's DDP-wrapped network, so DDP does not do it for them. A
    parameter without a gradient on this rank (its loss did not run here, e.g. no flagged case in this rank's batch)
    contributes zeros, so every rank calls the collective with the same layout and ends with the same gradient."""
    if not is_distributed() or not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1).float() for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset:offset + n].view_as(p).to(p.dtype)
        offset += n


def all_mean(values: Sequence[float]) -> Optional[float]:
    """Mean of all ranks' values together (None when no rank has any)."""
    flat = list(values)
    if is_distributed():
        gathered: list = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, flat)
        flat = [v for vs in gathered for v in vs]
    return sum(flat) / len(flat) if flat else None


def run_synchronised_round(store: LabelStore, cases: Sequence[str], process_case: Callable[[str, int], dict],
                           summary: Optional[dict] = None,
                           before_commit: Optional[Callable[[dict], Optional[Sequence[str]]]] = None
                           ) -> tuple[int, dict]:
    """Run one label round over ``cases`` on all ranks and commit it once.

    ``before_commit(totals)`` runs on every rank once the counts are summed (it may use collectives) and returns the
    cases the data loader should skip from this round on (None: unchanged); rank 0 commits them with the round.

    ``process_case(case, round_index)`` stages the case in ``store`` and returns numeric counts; the returned counts
    are summed over all cases and ranks. Returns (committed round index, summed counts).
    """
    rank, world = rank_and_world()
    round_index = store.current_round + 1
    totals: dict[str, float] = {}
    for case in shard(cases, rank, world):
        for k, v in process_case(case, round_index).items():
            totals[k] = totals.get(k, 0) + v
    keys = sorted(set().union(*_all_keys(totals)))
    totals = all_sum({k: totals.get(k, 0) for k in keys})
    excluded = before_commit(totals) if before_commit is not None else None
    barrier()
    if rank == 0:
        store.commit_round(round_index, list(cases), {**(summary or {}), **totals}, excluded=excluded)
    barrier()
    if store.current_round != round_index:
        raise RuntimeError(f"rank {rank} sees label-store round {store.current_round}, expected {round_index}")
    return round_index, totals


def _all_keys(totals: Mapping[str, float]) -> list[set]:
    if not is_distributed():
        return [set(totals)]
    gathered: list = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, sorted(totals))
    return [set(g) for g in gathered]
