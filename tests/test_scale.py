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
