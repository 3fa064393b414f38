import json

import numpy as np
import pytest

from nnunet_svl.runtime.errors import SVLInputError
from nnunet_svl.runtime.label_store import LabelStore


def _label(v):
    return np.full((1, 4, 4, 4), v, dtype=np.int16)


def test_round_is_invisible_until_committed(tmp_path):
    store = LabelStore(tmp_path / "ls")
    assert store.current_round == 0 and store.load("a") is None
    store.stage_case(1, "a", _label(1), omega=np.ones((1, 4, 4, 4)), fuzzy=np.zeros((1, 4, 4, 4)))
    assert store.load("a") is None  # staged, not committed
    store.commit_round(1, ["a"], {"n_flipped": 3})
    got = store.load("a")
    assert got.label.dtype == np.int16 and (got.label == 1).all()
    assert got.omega.dtype == np.float16 and (got.omega == 1).all()
    assert store.history()[-1]["n_flipped"] == 3


def test_partial_round_commit_refused_and_order_enforced(tmp_path):
    store = LabelStore(tmp_path / "ls")
    store.stage_case(1, "a", _label(1))
    with pytest.raises(RuntimeError, match="incompletely"):
        store.commit_round(1, ["a", "b"])
    with pytest.raises(ValueError):
        store.commit_round(2, ["a"])
    store.commit_round(1, ["a"])
    with pytest.raises(ValueError):
        store.stage_case(1, "a", _label(2))  # a committed round is never rewritten


def test_cases_keep_their_latest_version_across_rounds(tmp_path):
    store = LabelStore(tmp_path / "ls")
    store.stage_case(1, "a", _label(1)); store.stage_case(1, "b", _label(1))
    store.commit_round(1, ["a", "b"])
    store.stage_case(2, "a", _label(2))
    store.commit_round(2, ["a"])
    assert (store.load("a").label == 2).all() and (store.load("b").label == 1).all()


def test_restore_round_rolls_back_one_round_and_drops_newer(tmp_path):
    store = LabelStore(tmp_path / "ls")
    for r in (1, 2, 3):
        store.stage_case(r, "a", _label(r))
        store.commit_round(r, ["a"])
    # a run killed after committing round 3 but before checkpointing resumes from round 2
    store.restore_round(2)
    assert store.current_round == 2 and (store.load("a").label == 2).all()
    assert not (tmp_path / "ls" / "r0003").exists()
    # the next round is 3 again and is applied once
    store.stage_case(3, "a", _label(7))
    store.commit_round(3, ["a"])
    assert (store.load("a").label == 7).all() and len(store.history()) == 3


def test_restore_zero_empties_the_store_and_old_rounds_are_pruned(tmp_path):
    store = LabelStore(tmp_path / "ls")
    for r in (1, 2, 3, 4):
        store.stage_case(r, "a", _label(r))
        store.commit_round(r, ["a"])
    kept = sorted(p.name for p in (tmp_path / "ls").iterdir() if p.is_dir())
    assert kept == ["r0003", "r0004"]  # the committed round and the one a resume may roll back to
    store.restore_round(0)
    assert store.current_round == 0 and store.load("a") is None


def test_missing_snapshot_and_torn_manifest_are_clear_errors(tmp_path):
    store = LabelStore(tmp_path / "ls")
    store.stage_case(1, "a", _label(1))
    store.commit_round(1, ["a"])
    with pytest.raises(SVLInputError, match="round 5"):
        store.restore_round(5)
    (tmp_path / "ls" / "manifest.json").write_text("{")
    with pytest.raises(SVLInputError, match="manifest.json"):
        LabelStore(tmp_path / "ls").current_round


def test_other_process_sees_commits(tmp_path):
    reader, writer = LabelStore(tmp_path / "ls"), LabelStore(tmp_path / "ls")
    assert reader.load("a") is None
    writer.stage_case(1, "a", _label(5))
    writer.commit_round(1, ["a"])
    assert (reader.load("a").label == 5).all()
    assert json.loads((tmp_path / "ls" / "manifest.json").read_text())["round"] == 1


def test_excluded_cases_travel_with_the_round_and_are_restored(tmp_path):
    store = LabelStore(tmp_path / "s")
    lab = np.zeros((1, 2, 2, 2), np.int16)
    for r, excluded in ((1, None), (2, ["b"]), (3, None), (4, [])):
        for c in ("a", "b"):
            store.stage_case(r, c, lab)
        store.commit_round(r, ["a", "b"], excluded=excluded)
        if r == 1:
            assert store.excluded_cases() == frozenset()
        if r in (2, 3):                      # None keeps the previous round's set
            assert store.excluded_cases() == frozenset({"b"})
    assert store.excluded_cases() == frozenset()      # an empty list clears it
    store.restore_round(3)
    assert store.excluded_cases() == frozenset({"b"})
    store.restore_round(0)
    assert store.excluded_cases() == frozenset()


def test_dataset_serves_an_unexcluded_case_in_place_of_an_excluded_one(tmp_path):
    from nnunet_svl.trainers.data import _LabelStoreDatasetMixin

    store = LabelStore(tmp_path / "s")
    lab = np.zeros((1, 2, 2, 2), np.int16)
    for c in ("a", "b", "c"):
        store.stage_case(1, c, lab)
    store.commit_round(1, ["a", "b", "c"], excluded=["b", "c"])
    ds = _LabelStoreDatasetMixin()
    ds.identifiers = ["a", "b", "c"]
    ds.attach(store, weight_channels=False, keep_excluded=0.0)
    np.random.seed(0)
    assert [ds.serve_instead(c) for c in ("a", "b", "c")] == ["a", "a", "a"]
    # keep_excluded 1 (the default): nothing is replaced and no random number is drawn
    ds.attach(store, weight_channels=False, keep_excluded=1.0)
    state = np.random.get_state()[1].copy()
    assert [ds.serve_instead(c) for c in ("a", "b", "c")] == ["a", "b", "c"]
    assert np.array_equal(np.random.get_state()[1], state)
    # keep 0.5: about half of the draws of an excluded case keep it
    ds.attach(store, weight_channels=False, keep_excluded=0.5)
    kept = sum(ds.serve_instead("b") == "b" for _ in range(2000))
    assert 850 < kept < 1150
    # nothing excluded: no random number is drawn even with keep 0
    store.stage_case(2, "a", lab)
    store.commit_round(2, ["a"], excluded=[])
    ds.attach(store, weight_channels=False, keep_excluded=0.0)
    state = np.random.get_state()[1].copy()
    assert ds.serve_instead("b") == "b" and np.array_equal(np.random.get_state()[1], state)


def test_batch_keys_name_the_cases_served_when_flagged_cases_are_thinned(isolated_results):
    """The gate's thinning happens at the draw: a flagged (excluded) case that is swapped out does not appear in
    ``batch['keys']`` (before, the keys named the drawn case and the batch was treated as flagged), and the batch
    holds the served case's label."""
    import torch
    from nnunetv2.run.run_training import get_trainer_from_args

    from conftest import NARROW, NOISY_ID

    trainer = get_trainer_from_args(str(NOISY_ID), "3d_fullres", 0, "nnUNetTrainerSVLDRL_tiny", NARROW,
                                    device=torch.device("cpu"))
    trainer.on_train_start()
    try:
        cases = trainer.training_case_ids()
        excluded, marked = cases[0], cases[1]
        for case in cases:
            _, seg, _, _ = trainer.dataset_class(trainer.preprocessed_dataset_folder, [case]).load_case(case)
            label = np.asarray(seg[:]).astype(np.int16)
            if case == marked:           # a label no given case has: background everywhere
                label = np.where(label >= 0, 0, label).astype(np.int16)
            trainer.label_store.stage_case(2, case, label)
        trainer.label_store.commit_round(2, cases, excluded=[excluded])
        seen = set()
        for _ in range(25):
            batch = next(trainer.dataloader_train)
            labels, _, _ = trainer.split_target(batch["target"])
            for i, key in enumerate(batch["keys"]):
                seen.add(key)
                if key == marked:
                    assert not (labels[0][i] > 0).any()    # the keys and the data belong together
        assert excluded not in seen and len(seen) >= 3
    finally:
        trainer.on_train_end()


def _crop(arr, bbox):
    from acvl_utils.cropping_and_padding.bounding_boxes import crop_and_pad_nd

    return crop_and_pad_nd(arr, bbox, -1, cast_cropped_to=np.int16)


def test_loader_reads_the_stored_case_lazily_and_crops_what_the_eager_path_gave(tmp_path):
    """The store holds (label, ω code, m code) as one blosc2 array chunked for the training patch; the data path hands
    it to nnU-Net's crop unread (only the patch is decompressed) and the crop equals the old eager concatenation,
    hand-checked codes included (ω 1.5 → 1501, m 0.25 → 251; padding −1 decodes to the neutral value)."""
    import blosc2

    from nnunet_svl.trainers.data import _LabelStoreDatasetMixin, encode_weight_channel

    rng = np.random.default_rng(0)
    shape = (1, 40, 36, 32)
    label = rng.integers(0, 3, shape).astype(np.int16)
    omega = np.full(shape, 1.5, np.float32)
    fuzzy = np.full(shape, 0.25, np.float32)
    store = LabelStore(tmp_path / "s", patch_size=(16, 16, 16))
    store.stage_case(1, "a", label, omega=omega, fuzzy=fuzzy)
    store.commit_round(1, ["a"])
    arr, names = store.open_case("a")
    assert isinstance(arr, blosc2.NDArray) and names == ["label", "omega", "fuzzy"]
    assert arr.chunks[0] == 1 and all(c < s for c, s in zip(arr.chunks[1:], shape[1:])), arr.chunks
    assert int(arr[1, 0, 0, 0]) == 1501 and int(arr[2, 0, 0, 0]) == 251
    assert int(encode_weight_channel(np.float32(1.5))) == 1501

    class Base:            # nnU-Net's dataset part: the given segmentation, lazily (here: an array)
        def load_case(self, identifier):
            return np.zeros((1, *shape[1:]), np.float32), label, None, {}

    class DS(_LabelStoreDatasetMixin, Base):
        pass

    ds = DS().attach(store, weight_channels=True)
    _, seg, _, _ = ds.load_case("a")
    assert isinstance(seg, blosc2.NDArray)           # unread: nnU-Net's crop reads the patch
    eager = np.concatenate([label, encode_weight_channel(omega), encode_weight_channel(fuzzy)])
    for bbox in ([[0, 16], [0, 16], [0, 16]], [[30, 46], [-4, 12], [20, 36]]):   # the second reaches outside
        assert np.array_equal(_crop(seg, bbox), _crop(eager, bbox))
    # a case the store has no entry for: the given label and neutral weight channels, read lazily too
    ds_none = DS().attach(LabelStore(tmp_path / "empty"), weight_channels=True)
    _, seg0, _, _ = ds_none.load_case("a")
    eager0 = np.concatenate([label, np.zeros((2, *shape[1:]), np.int16)])
    assert seg0.shape == eager0.shape
    for bbox in ([[0, 16], [0, 16], [0, 16]], [[30, 46], [-4, 12], [20, 36]]):
        assert np.array_equal(_crop(seg0, bbox), _crop(eager0, bbox))
    assert np.array_equal(np.asarray(seg0), eager0) and np.array_equal(seg0[:], eager0)
    # round readers get the decoded floats
    got = store.load("a")
    assert np.array_equal(got.label, label) and np.allclose(got.omega, 1.5) and np.allclose(got.fuzzy, 0.25)


def test_store_written_before_the_blosc2_layout_is_still_read(tmp_path):
    """A run resumed from a store of the npz layout (label int16, omega/fuzzy float16) reads it, and the data path
    serves it the eager way."""
    from nnunet_svl.trainers.data import _LabelStoreDatasetMixin, encode_weight_channel

    root = tmp_path / "s"
    (root / "r0001").mkdir(parents=True)
    label = np.ones((1, 4, 4, 4), np.int16)
    np.savez_compressed(root / "r0001" / "a.npz", label=label, omega=np.full(label.shape, 2.0, np.float16),
                        fuzzy=np.full(label.shape, 0.5, np.float16))
    manifest = {"round": 1, "cases": {"a": "r0001"}, "history": [{"round": 1}]}
    (root / "manifest.json").write_text(json.dumps(manifest))
    store = LabelStore(root)
    assert store.open_case("a") is None and np.allclose(store.load("a").omega, 2.0)

    class Base:
        def load_case(self, identifier):
            return np.zeros((1, 4, 4, 4), np.float32), np.zeros((1, 4, 4, 4), np.int16), None, {}

    class DS(_LabelStoreDatasetMixin, Base):
        pass

    _, seg, _, _ = DS().attach(store, weight_channels=True).load_case("a")
    assert np.array_equal(seg, np.concatenate([label, encode_weight_channel(np.full(label.shape, 2.0)),
                                               encode_weight_channel(np.full(label.shape, 0.5))]))


def test_loss_statistics_round_trip_exactly_and_the_zlib_layout_is_still_read(tmp_path):
    stats = {"mean": np.array([[0.25, 1.5]], np.float16), "var": np.array([[0.0, 2.0]], np.float16),
             "count": np.array([[3, 7]], np.uint16)}
    store = LabelStore(tmp_path / "s")
    store.stage_case(1, "a", _label(1), stats=stats)
    store.commit_round(1, ["a"])
    got = store.load_stats("a")
    assert set(got) == set(stats) and all(got[k].dtype == stats[k].dtype and np.array_equal(got[k], stats[k])
                                          for k in stats)
    np.savez_compressed(store.case_file("a", stats=True), **stats)        # as written before the blosc2 layout
    got = store.load_stats("a")
    assert all(np.array_equal(got[k], stats[k]) for k in stats)
