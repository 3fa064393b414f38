"""Label QA's case flags with the image's evidence (nnunet_svl/qa/image_evidence.py): real edge fits on the
benchmark's phantoms, held-out scores set by hand."""
from __future__ import annotations

import numpy as np

from nnunet_svl.qa.image_evidence import label_edge_fit, qa_case_flags, ranking_key
from nnunet_svl.tools.demo_data import make_phantom
from nnunet_svl.tools.noise import dilate, erode


def _fits():
    """Six phantoms with their clean labels, one label eroded by 2 voxels (a 5-cube), one dilated by 1 (a 3-cube),
    and one with a third of its voxels marked ignore (−1: left out of the fit)."""
    fits, images = {}, {}
    for i in range(6):
        image, clean = make_phantom(np.random.default_rng(i), (40, 40, 40))
        images[i] = image
        fits[f"clean{i}"] = label_edge_fit(image[None], (clean == 1).astype(np.int16))
    _, clean0 = make_phantom(np.random.default_rng(0), (40, 40, 40))
    fits["eroded"] = label_edge_fit(images[0][None], erode(clean0 == 1, 5).astype(np.int16))
    _, clean1 = make_phantom(np.random.default_rng(1), (40, 40, 40))
    fits["dilated"] = label_edge_fit(images[1][None], dilate(clean1 == 1, 3).astype(np.int16))
    return fits


FITS = _fits()


def test_the_fits_see_the_edge_of_clean_labels_and_its_absence_in_eroded_ones():
    for i in range(6):
        f = FITS[f"clean{i}"]
        assert f.reliable and abs(f.offset) <= 1.0 and f.step_t >= 5
    assert FITS["eroded"].step_t < 5 and not FITS["eroded"].reliable
    # a label a voxel past its edge: on the edge within the tolerance, but the whole step (t ≈ twice the clean ones')
    median = np.median([FITS[f"clean{i}"].step_t for i in range(6)])
    assert FITS["dilated"].step_t > 1.5 * median


def test_ignored_voxels_are_left_out_of_the_fit():
    image, clean = make_phantom(np.random.default_rng(3), (40, 40, 40))
    label = (clean == 1).astype(np.int16)
    ignored = label.copy()
    ignored[:20] = np.where(label[:20] > 0, -1, ignored[:20])      # the label's upper half: ignore
    full, half = label_edge_fit(image[None], label), label_edge_fit(image[None], ignored)
    assert half.core_voxels < full.core_voxels                   # fewer voxels fitted
    assert abs(half.offset) <= 1.0                               # and still on the edge


def test_the_image_withdraws_score_flags_of_confirmed_labels_and_adds_edge_absent_ones():
    # held-out scores: clean0 a hard case (0.42, like the benchmark's clean seed-2 phantom), the dilated label a
    # score outlier (0.60); the other clean labels 0.10-0.15, the eroded one 0.12 (its score says nothing).
    # Lower half of the 8 scores: 0.10 0.11 0.12 0.12 → median 0.115, MAD 0.01; threshold 0.115 + max(3·1.4826·0.01,
    # 0.25) = 0.365 → by score: clean0 and dilated.
    scores = {"clean0": 0.42, "clean1": 0.10, "clean2": 0.11, "clean3": 0.12, "clean4": 0.13, "clean5": 0.15,
              "eroded": 0.12, "dilated": 0.60}
    flagged, confirmed, absent = qa_case_flags(scores, FITS, k=3.0, margin=0.25)
    assert confirmed == {f"clean{i}" for i in range(6)}
    assert absent == {"eroded"}
    assert flagged == {"dilated", "eroded"}                      # clean0's flag withdrawn, the eroded label added
    # without fits: the score's outliers alone
    assert qa_case_flags(scores, {}, k=3.0, margin=0.25) == ({"clean0", "dilated"}, set(), set())
    # fewer than 4 on-edge labels: no reference step, nothing confirmed; fewer than 4 with a step: none absent
    few = {c: FITS[c] for c in ("clean0", "clean1", "clean2", "eroded")}
    assert qa_case_flags({c: scores[c] for c in few}, few, k=3.0, margin=0.25)[1:] == (set(), set())


def test_the_ranking_puts_the_image_verdict_before_the_score():
    rows = [("a", 0.9, True, False), ("b", 0.1, False, True), ("c", 0.5, False, False), ("d", 0.2, False, False),
            ("e", 0.3, True, False)]
    order = [r[0] for r in sorted(rows, key=lambda r: ranking_key(r[1], r[2], r[3]))]
    assert order == ["b", "c", "d", "a", "e"]


def test_the_veto_needs_most_trusted_fits_on_the_edge():
    from nnunet_svl.teacher.case_flags import image_confirmed

    # (offset, t, trusted): 4 on the edge (t 40-52, median 45) and 5 trusted fits past the tolerance — 4 of 9 trusted
    # on the edge, under half: every label over-drawn, the on-edge ones are one-voxel dilations; none confirmed.
    # One untrusted fit does not count. With a fifth on-edge label (5 of 10 trusted): half, the reference holds.
    fits = {"a": (0.95, 42.0, True), "b": (0.35, 52.0, True), "c": (0.85, 48.0, True), "d": (-0.1, 40.0, True),
            **{f"o{i}": (2.0 + i, 30.0, True) for i in range(5)}, "u": (0.0, 3.0, False)}
    assert image_confirmed(fits, 1.0) == {"a", "b", "c", "d"}            # the teacher gate's rule (share 0)
    assert image_confirmed(fits, 1.0, min_on_edge_share=0.5) == set()
    more = {**fits, "e": (0.2, 45.0, True)}
    assert image_confirmed(more, 1.0, min_on_edge_share=0.5) == {"a", "b", "c", "d", "e"}
