"""The scale check runs the label store round by round, case by case (small sizes here; the 200×128³ figures are in
BENCHMARKS.md)."""
import numpy as np

from nnunet_svl.runtime.label_store import LabelStore
from nnunet_svl.tools.scale import measure_label_store_scale


def test_scale_check_small(tmp_path):
    root = tmp_path / "store"
    result = measure_label_store_scale(root, n_cases=3, shape=(16, 16, 16), rounds=3, progress=lambda *_: None)
    store = LabelStore(root)
    assert store.current_round == 3 and len(store.history()) == 3
    stats = store.load_stats("case_0001")
    assert int(stats["count"].max()) == 3           # each round added one loss observation per voxel
    assert store.load("case_0002").label.shape == (1, 16, 16, 16)
    # only the last two rounds are kept on disk
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["r0002", "r0003"]
    assert result["disk_mb_final"] > 0 and len(result["per_round"]) == 3
    assert np.isclose(result["one_case_in_ram_mb"], 16 ** 3 * 20 / 2 ** 20, atol=0.05)


def test_round_share_projection_hand_checked():
    from nnunet_svl.tools.scale import project_round_share

    # every 0.1 of 1000 epochs = 100: rounds end epochs 99, 199, ..., 999 → 10 rounds × 200 s = 2000 s
    p = project_round_share(200.0, epochs=1000, epoch_seconds=(60.0,), every=0.1)
    assert (p["round_every_epochs"], p["rounds_per_run"], p["round_seconds_per_run"]) == (100, 10, 2000.0)
    assert p["share_by_epoch_seconds"]["60.0"] == round(2000 / (2000 + 60000), 4)
    # the papers' every 2 epochs: 500 rounds
    assert project_round_share(200.0, every=2)["rounds_per_run"] == 500
