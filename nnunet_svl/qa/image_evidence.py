"""Label QA's case flags with the image's evidence at the label's boundary (docs/METHOD.md §7) [ours].

The held-out score (:func:`nnunet_svl.qa.held_out.case_score`) cannot tell a *hard* case from a *wrong* one: the
held-out model fails on both. On the benchmark's clean labels (seed 2) it flagged one correct case, the hardest
phantom (held-out Dice 0.58), and on mt ρ 0.5 it ranked three eroded cases among the clean ones (case AUROC 0.938 on
two of three seeds). The teacher gate met the same two problems and answers them with the image
(:mod:`nnunet_svl.teacher.case_flags`, :mod:`nnunet_svl.edge.boundary`); label-qa asks the image the same way, on
the raw image in the label's own geometry, with no network:

1. **Confirmed** (:func:`nnunet_svl.teacher.case_flags.image_confirmed`): the label lies on a trusted intensity edge
   (within ``tolerance`` voxels) whose step looks like the other on-edge labels' (t within 0.5–1.5 × their median).
   The held-out model's disagreement with such a label is the case's difficulty, not the label's error: a flag the
   held-out score raised is withdrawn (a veto only; the image never adds a flag here). Only while at least half of
   the trusted fits lie on the edge (:data:`MIN_ON_EDGE_SHARE`): with every label over-drawn, the few on-edge labels
   are one-voxel dilations that would confirm one another (ρ 1.0: 4–6 of 24 on 3 of 9 datasets without it).
2. **Edge absent** (:func:`nnunet_svl.teacher.case_flags.flag_edge_absent`): the label's boundary shows no step that
   stands out of the noise (t < :data:`nnunet_svl.edge.boundary.MIN_STEP_T`) while most labels of the dataset do:
   the boundary lies where the image does not change (an under-drawn label). Flagged.
3. **Ranking**: edge-absent cases first, then the cases without a verdict, then the confirmed ones; the held-out score
   orders each group (:func:`ranking_key`).

Where it acts, and where not: only a label map with one foreground class (as the edge repair); both rules switch
themselves off on a dataset whose structures have no intensity edge (fewer than 4 trusted on-edge fits: no case is
confirmed; fewer than half of the fits with a step: none is edge-absent), where label-qa is the held-out score alone.
Offline on the earlier sessions' label-qa runs (``benchmarks/label_qa_edge/offline.py``): 0 of 96 noisy cases
confirmed, every clean case confirmed, the edge-absent flags all noisy (mt's eroded cases).
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np

from nnunet_svl.edge.boundary import MIN_STEP_T, EdgeFit, fit_edge
from nnunet_svl.teacher.case_flags import flag_cases, flag_edge_absent, image_confirmed

DEFAULT_TOLERANCE = 1.0
"""Voxels: the edge repair's default (``SVLConfig.edge_tolerance``)."""
MIN_ON_EDGE_SHARE = 0.5
"""The veto needs at least half of the trusted fits on the edge: the same "at most half of the labels are wrong"
that the score's outlier rule and the edge-absent rule assume (``image_confirmed``)."""


def label_edge_fit(image: np.ndarray, label: np.ndarray, spacing: Optional[Sequence[float]] = None,
                   window: float = 8.0, sigma: float = 1.5) -> EdgeFit:
    """The edge fit of one case's given foreground: ``image`` (C, *sp) the raw input channels, ``label`` (*sp) label
    values with the ignore label as −1 (left out of the fit); ``spacing`` in the arrays' axis order."""
    label = np.asarray(label)
    return fit_edge(np.asarray(image, dtype=np.float32), label > 0, valid=label >= 0, spacing=spacing,
                    window=window, sigma=sigma)


def qa_case_flags(scores: Mapping[str, float], fits: Mapping[str, EdgeFit], k: float, margin: float,
                  tolerance: float = DEFAULT_TOLERANCE) -> tuple[set, set, set]:
    """(flagged, confirmed, edge_absent): the held-out score's outliers (:func:`flag_cases`) less the cases the image
    confirms, plus the edge-absent cases. ``fits`` empty: the held-out score's outliers alone."""
    by_score = flag_cases(scores, k=k, margin=margin)
    if not fits:
        return by_score, set(), set()
    confirmed = image_confirmed({c: (f.offset, f.step_t, f.reliable) for c, f in fits.items()}, tolerance,
                                min_on_edge_share=MIN_ON_EDGE_SHARE)
    absent = flag_edge_absent({c: f.step_t for c, f in fits.items()}, MIN_STEP_T)
    return (by_score - confirmed) | absent, confirmed, absent


def ranking_key(score: float, confirmed: bool, edge_absent: bool) -> tuple:
    """Sort key, most suspect first: edge-absent, no verdict, confirmed; the higher held-out score first within."""
    return (-(1 if edge_absent else -1 if confirmed else 0), -score)
