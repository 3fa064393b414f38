"""Two-pass workflow: the method trainer reads the cases `nnunet-svl label-qa` flagged (config label_qa) and flags them
from the first iteration: they are thinned out of the batches from the start (committed with the first label-store
round, so --c keeps them) and stay flagged whatever the teacher decides."""
from __future__ import annotations

import json

import pytest
import torch

from conftest import NARROW, NOISY_ID, noisy_dataset_dir
from nnunet_svl.qa.prior import label_qa_flags
from nnunet_svl.runtime.errors import SVLInputError


def _summary(folder, dataset, flagged):
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({"dataset": dataset, "flagged": flagged}))
    return folder


def test_label_qa_flags_auto_discovery_and_errors(tmp_path):
    results = tmp_path / "results"
    with pytest.raises(SVLInputError, match="holds 0 label_qa folders"):
        label_qa_flags("auto", "Dataset5_X", results)
    qa = _summary(results / "Dataset5_X" / "T__P__C" / "label_qa", "Dataset5_X", ["a", "b"])
    flagged, path = label_qa_flags("auto", "Dataset5_X", results)
    assert flagged == {"a", "b"} and path == qa / "summary.json"
    assert label_qa_flags(str(qa), "Dataset5_X", None)[0] == {"a", "b"}
    with pytest.raises(SVLInputError, match="not of 'Dataset6_Y'"):
        label_qa_flags(str(qa), "Dataset6_Y", None)
    with pytest.raises(SVLInputError, match="is not a label-qa summary.json"):
        label_qa_flags(str(tmp_path / "nothing"), "Dataset5_X", None)
    _summary(results / "Dataset5_X" / "T2__P__C" / "label_qa", "Dataset5_X", [])
    with pytest.raises(SVLInputError, match="holds 2 label_qa folders"):
        label_qa_flags("auto", "Dataset5_X", results)


@pytest.mark.parametrize("only_reached", [False, True])
def test_method_trainer_flags_the_label_qa_cases_from_the_start(isolated_results, tmp_path, monkeypatch, only_reached):
    from nnunetv2.run.run_training import get_trainer_from_args

    from nnunet_svl.edge.part import EdgeRepairPart

    from nnunet_svl.runtime.config import CONFIG_ENV_VAR
    from nnunet_svl.teacher.part import TeacherGatePart

    name = noisy_dataset_dir(isolated_results).name
    qa = _summary(tmp_path / "qa", name, ["TestPhantoms_000", "TestPhantoms_not_a_case"])
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"label_qa": str(qa), "label_qa_withdraw_only_reached": only_reached}))
    monkeypatch.setenv(CONFIG_ENV_VAR, str(cfg))
    trainer = get_trainer_from_args(str(NOISY_ID), "3d_fullres", 4, "nnUNetTrainerSVLDRL_tiny", NARROW,
                                    device=torch.device("cpu"))
    trainer.on_train_start()
    try:
        gate = trainer.part(TeacherGatePart)
        assert gate.flagged == {"TestPhantoms_000", "TestPhantoms_not_a_case"}
        # committed with DALE's initial round: the data loader thins the case out from the first batch
        assert "TestPhantoms_000" in trainer.label_store.excluded_cases()
        # the edge repair's verdicts reach the gate, which settled the prior with the initial round: this fixture's
        # edge repair moves no label (TestPhantoms_000 lies on its edge), so no flag is withdrawn
        assert gate.edge_moves is not None and gate.edge_moves("TestPhantoms_000") is False
        verdict = EdgeRepairPart.reached_edge if only_reached else EdgeRepairPart.moves
        assert gate.edge_moves.__func__ is verdict and gate.edge_moves.__self__ is trainer.part(EdgeRepairPart)
        assert gate.prior_withdrawn == frozenset()
        # the teacher's own decision cannot unflag it
        gate.flag_counts = {}
        gate.load_state_dict({"gate_flag_counts": {"TestPhantoms_001": 1}})
        assert gate.flagged == {"TestPhantoms_000", "TestPhantoms_not_a_case", "TestPhantoms_001"}
    finally:
        trainer.on_train_end()
