"""The shared base trainer on real nnU-Net: the loader trains on stored corrected labels; checkpoints carry the
plugin state; the stock predictor loads them."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import NARROW, NOISY_ID


def _trainer(trainer_name: str, fold: int = 0, plans: str = NARROW):
    from nnunetv2.run.run_training import get_trainer_from_args

    return get_trainer_from_args(str(NOISY_ID), "3d_fullres", fold, trainer_name, plans, device=torch.device("cpu"))


def test_loader_trains_on_the_stored_corrected_label(nnunet_env):
    trainer = _trainer("nnUNetTrainerSVLBase_tiny", fold=1)
    trainer.initialize()
    cases = trainer.training_case_ids()
    target_case = cases[0]
    # store a label that cannot come from the given annotation: foreground everywhere in the image
    _, seg, _, _ = trainer.dataset_class(trainer.preprocessed_dataset_folder, [target_case]).load_case(target_case)
    seg = np.asarray(seg[:])
    assert (seg == 1).mean() < 0.5
    stored = np.where(seg >= 0, 1, seg).astype(np.int16)   # keep nnU-Net's -1 (outside the nonzero mask)
    trainer.label_store.stage_case(1, target_case, stored)
    trainer.label_store.commit_round(1, [target_case])
    trainer._resumed = True   # keep the store (a fresh run would reset it)

    # 1. nnU-Net's own data loader over the store-backed training set, without spatial augmentation: the batch
    #    target of the corrected case is exactly the stored label
    from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader

    dataset_tr, _ = trainer.get_tr_and_val_datasets()
    patch = trainer.configuration_manager.patch_size
    loader = nnUNetDataLoader(dataset_tr, 1, patch, patch, trainer.label_manager, oversample_foreground_percent=0,
                              transforms=trainer.get_validation_transforms(None))
    found = False
    for _ in range(60):
        batch = next(loader)
        if batch["keys"][0] == target_case:
            expected = torch.from_numpy(np.where(stored < 0, 0, stored)).to(batch["target"].dtype)
            assert torch.equal(batch["target"][0], expected)
            found = True
            break
    assert found, "the corrected case was never sampled"

    # 2. the trainer's real training pipeline (spatial augmentation, deep supervision) carries it too
    trainer.on_train_start()
    try:
        seen = {}
        for _ in range(60):
            batch = next(trainer.dataloader_train)
            tgt = batch["target"][0] if isinstance(batch["target"], list) else batch["target"]
            for i, key in enumerate(batch["keys"]):
                seen.setdefault(key, []).append(float((tgt[i] == 1).float().mean()))
            if len(seen.get(target_case, [])) >= 3 and len(seen) >= 3:
                break
        assert target_case in seen, "the corrected case was never sampled"
        others = [v for k, vs in seen.items() if k != target_case for v in vs]
        # augmentation may zoom out and pad with background, so compare means, not single patches
        assert np.mean(seen[target_case]) > 0.5 > 0.3 > np.mean(others)
    finally:
        trainer.on_train_end()


def test_bad_checkpoints_name_the_file_and_the_fix(nnunet_env, tmp_path):
    """A truncated file, a foreign dict, another trainer's checkpoint and one of another network: each a one-line
    SVLInputError naming the file, and the trainer's state is untouched."""
    from nnunet_svl.runtime.errors import SVLInputError

    trainer = _trainer("nnUNetTrainerVA3C_tiny", fold=2)
    trainer.initialize()
    before = {k: v.clone() for k, v in trainer.network.state_dict().items()}

    garbage = tmp_path / "truncated.pth"
    garbage.write_bytes(b"PK\x03\x04 not a torch file")
    foreign = tmp_path / "foreign.pth"
    torch.save({"state_dict": {}}, foreign)
    other_trainer = tmp_path / "other_trainer.pth"
    torch.save({"network_weights": trainer.network.state_dict(), "trainer_name": "nnUNetTrainer"}, other_trainer)
    other_net = tmp_path / "other_net.pth"   # this trainer's own checkpoint, but of another network
    trainer.save_checkpoint(str(other_net))
    ckpt = torch.load(other_net, weights_only=False)
    ckpt["network_weights"] = {"conv.weight": torch.zeros(1)}
    torch.save(ckpt, other_net)
    cases = [(garbage, "cannot be read"), (foreign, "not an nnU-Net checkpoint"),
             (other_trainer, "written by trainer 'nnUNetTrainer'"), (other_net, "does not fit this network")]
    for path, problem in cases:
        with pytest.raises(SVLInputError) as err:
            trainer.load_checkpoint(str(path))
        msg = str(err.value)
        assert str(path) in msg and problem in msg and "Fix:" in msg and "\n" not in msg, msg
    for k, v in trainer.network.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_out_of_memory_while_loading_a_checkpoint_is_not_called_a_mismatch(nnunet_env, tmp_path, monkeypatch):
    """Issue 14, item 4: CUDA running out of memory while reading a checkpoint, or while nnU-Net copies its weights
    into the network, is reported as that (with the fix: free the GPU or resume on another device), never as a
    checkpoint that "does not fit this network". The CUDA error is raised by the two calls it comes from on a GPU
    (no GPU here); the checkpoint itself is a good one."""
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    from nnunet_svl.runtime.errors import SVLInputError

    trainer = _trainer("nnUNetTrainerVA3C_tiny", fold=2)
    trainer.initialize()
    good = tmp_path / "good.pth"
    trainer.save_checkpoint(str(good))

    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    real_load = torch.load
    for target, name in ((torch, "load"), (nnUNetTrainer, "load_checkpoint")):
        with monkeypatch.context() as m:
            m.setattr(target, name, out_of_memory)
            with pytest.raises(SVLInputError) as err:
                trainer.load_checkpoint(str(good))
        msg = str(err.value)
        assert str(good) in msg and "ran out of memory" in msg and "does not fit" not in msg, (name, msg)
        assert "free the GPU" in msg and "\n" not in msg, msg
    assert torch.load is real_load
    trainer.load_checkpoint(str(good))       # and the same file loads once memory is there


def test_progress_plot_is_due_after_the_first_and_last_epoch_and_then_every_interval():
    import time
    from types import SimpleNamespace

    from nnunet_svl.runtime.config import SVLConfig
    from nnunet_svl.trainers.base import nnUNetTrainerSVLBase

    due = nnUNetTrainerSVLBase._progress_plot_due
    # current_epoch as nnU-Net leaves it at the end of on_epoch_end: the finished epoch + 1
    t = SimpleNamespace(current_epoch=1, num_epochs=10, _last_progress_plot=time.time(),
                        cfg=SVLConfig(progress_plot_interval_s=20.0))
    assert due(t)                                   # after the first epoch
    t.current_epoch = 5
    assert not due(t)                               # drawn a moment ago
    t._last_progress_plot -= 21
    assert due(t)                                   # 21 s > 20 s ago
    t._last_progress_plot, t.current_epoch = time.time(), 10
    assert due(t)                                   # after the last epoch
    t._last_progress_plot, t.current_epoch = None, 5
    assert due(t)                                   # never drawn in this process (e.g. right after --c)
    t._last_progress_plot, t.cfg = time.time(), SVLConfig(progress_plot_interval_s=0.0)
    assert due(t)                                   # 0 = every epoch


def test_label_round_leaves_deep_supervision_as_the_trainer_had_it(nnunet_env):
    """A label round switches deep supervision off for whole-case inference and restores the trainer's own setting
    afterwards, whichever it was (not forced on)."""
    trainer = _trainer("nnUNetTrainerSVLDRL_tiny", fold=3)
    trainer.initialize()
    trainer.on_train_start()
    try:
        for enabled in (False, True):
            trainer.set_deep_supervision_enabled(enabled)
            ran = None
            for epoch in range(trainer.num_epochs):
                trainer.current_epoch = epoch
                ran = trainer.run_label_round()
                if ran is not None:
                    break
            assert ran is not None, "the tiny schedule has a label round"
            assert trainer.deep_supervision_enabled() is enabled
            assert trainer.network.training
    finally:
        trainer.on_train_end()
