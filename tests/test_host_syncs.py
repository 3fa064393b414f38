"""Host–device synchronisations in the training step (issue: overhead), counted on the real trainer: every call that
makes the host wait for the device (``.item()``, ``.cpu()``, ``.numpy()``, ``.tolist()``, ``bool()``/``float()``/
``int()`` of a tensor) is counted while ``nnUNetTrainerSVLDRL_tiny`` runs ``train_step`` on CPU. On a GPU each of them
stalls the step; nnU-Net's own step has one (the loss it returns)."""
from __future__ import annotations

from collections import Counter

import torch

from conftest import NARROW, NOISY_ID

SYNCING = ("item", "cpu", "numpy", "tolist", "__bool__", "__float__", "__int__")


def count_syncs(fn, monkeypatch) -> Counter:
    calls: Counter = Counter()
    with monkeypatch.context() as m:
        for name in SYNCING:
            original = getattr(torch.Tensor, name)

            def counted(self, *args, _name=name, _original=original, **kwargs):
                calls[_name] += 1
                return _original(self, *args, **kwargs)

            m.setattr(torch.Tensor, name, counted)
        fn()
    return calls


def test_training_step_syncs_once_and_once_more_per_rollout_and_once_at_epoch_end(isolated_results, monkeypatch):
    from nnunetv2.run.run_training import get_trainer_from_args

    from nnunet_svl.teacher.part import TeacherGatePart

    trainer = get_trainer_from_args(str(NOISY_ID), "3d_fullres", 3, "nnUNetTrainerSVLDRL_tiny", NARROW,
                                    device=torch.device("cpu"))
    trainer.on_train_start()
    try:
        trainer.current_epoch = 2                     # full RL in the tiny schedule: head losses on flagged batches
        assert trainer.stage() == 2
        gate = trainer.part(TeacherGatePart)
        batch = next(trainer.dataloader_train)
        trainer.network.train()

        gate.flagged = set()                          # nothing flagged: nnU-Net's step
        plain = count_syncs(lambda: trainer.train_step(batch), monkeypatch)
        assert plain == Counter({"cpu": 1, "numpy": 1}), plain   # the loss nnU-Net's train_step returns

        gate.flagged = {str(batch["keys"][0])}        # a flagged case: DALE's weighted loss and the vA3C rollout
        flagged = count_syncs(lambda: trainer.train_step(batch), monkeypatch)
        # + one copy of the rollout's binarised predictions for the components count (rl/rollout.py)
        assert flagged == Counter({"cpu": 1, "numpy": 2}), flagged
        # the epoch's logged scalars (tensors, kept on the device) reach the host in one copy at the epoch's end
        assert any(torch.is_tensor(v) for vs in trainer._epoch_scalars.values() for v in vs)
        at_end = count_syncs(trainer._log_epoch_scalars, monkeypatch)
        assert at_end == Counter({"cpu": 1, "tolist": 1}), at_end
    finally:
        trainer.on_train_end()
