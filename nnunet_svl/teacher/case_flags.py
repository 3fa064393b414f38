"""Which training cases are noisy: robust flags from per-case teacher–label disagreement [ours].

Score of a case: 1 − foreground Dice between the teacher's prediction and the given label, counting a disagreeing voxel
only where the teacher is confident of its own label (``case_flag_confidence``, :func:`teacher_confident`). Label
noise in practice is per annotation, so a noisy case disagrees with a teacher that learned from all cases more than
the clean cases do. The reference distribution is the *lower half* of the scores (the cases that agree best), which
stays clean as long as at most half of the cases are noisy: a case is flagged when its score exceeds

    median_low + max(k · 1.4826 · MAD_low, margin)

(median and median absolute deviation of the lower half; 1.4826·MAD estimates a standard deviation; ``margin`` keeps
the threshold off the typical score when the lower half happens to agree almost exactly: a flagged case disagrees
with the teacher by at least ``margin`` (in 1 − Dice) more than a typical case). Flags accumulate over rounds (a case
flagged in ``persist`` rounds stays flagged).

Why only confident disagreement: per-case flags cannot see a bias shared by every case, and with argmax disagreement
they did worse than see nothing. When every label is over-drawn by a varying amount, the teacher learns the typical
over-drawing with a wide band of intermediate probability at the boundary (about 5 voxels of 0.1 < p < 0.9 per
boundary voxel against about 2.5 when half the labels are clean), and the cases that stand out by argmax are the
*least* over-drawn, the cleanest: dilate ρ = 1, seed 0, the 6 cases the gate flagged were the 6 least dilated, and
treating them as noisy cost 10 Dice points (BENCHMARKS.md). Where the teacher is unsure, its disagreement is not
evidence of noise; counted only where it is confident (p ≥ 0.9) the least dilated cases score like the others, while
the noisy cases of a half-clean dataset keep their lead (offline, on the final networks of the CPU benchmark).
"""
from __future__ import annotations

from typing import Mapping, Optional

import numpy as np


def flag_threshold(scores: np.ndarray, k: float = 3.0, margin: float = 0.1) -> float:
    """The score above which a case is flagged (see module docstring); ``inf`` for fewer than 4 cases."""
    s = np.sort(np.asarray(scores, dtype=float)[np.isfinite(scores)])
    if s.size < 4:
        return float("inf")
    low = s[: max(2, int(np.ceil(s.size / 2)))]
    med = float(np.median(low))
    mad = float(np.median(np.abs(low - med)))
    return med + max(k * 1.4826 * mad, margin)


def flag_cases(scores: Mapping[str, float], k: float = 3.0, margin: float = 0.1) -> set[str]:
    """Cases whose score is above :func:`flag_threshold` of all scores."""
    names = sorted(scores)
    t = flag_threshold(np.array([scores[n] for n in names]), k=k, margin=margin)
    return {n for n in names if np.isfinite(scores[n]) and scores[n] > t}


def disagreement_score(teacher_label: np.ndarray, given: np.ndarray, valid: np.ndarray,
                       confident: Optional[np.ndarray] = None) -> float:
    """1 − foreground Dice (all foreground classes, class by class) of the teacher's argmax and the given label over
    the valid voxels; 0 when both are empty. With ``confident`` (a boolean map), a voxel where the two disagree counts
    only where it is True: Σ_c |(t = c) △ (g = c) ∩ confident| / Σ_c (|t = c| + |g = c|) [ours], which equals
    1 − Dice when every voxel is confident."""
    t, g = teacher_label[valid], given[valid]
    conf = None if confident is None else np.asarray(confident, dtype=bool)[valid]
    classes = np.union1d(np.unique(t), np.unique(g))
    differ = total = 0
    for c in classes[classes > 0]:
        tc, gc = t == c, g == c
        diff = tc != gc
        differ += int((diff if conf is None else diff & conf).sum())
        total += int(tc.sum() + gc.sum())
    return 0.0 if total == 0 else differ / total


def teacher_confident(probs: np.ndarray, confidence: float, has_regions: bool = False) -> np.ndarray:
    """Where the teacher is confident of its own label (*sp): softmax outputs (K, *sp): the largest probability is at
    least ``confidence``; region outputs (sigmoids): every region's probability is at least ``confidence`` or at most
    1 − ``confidence``. ``confidence`` ≤ 0.5 marks every voxel."""
    probs = np.asarray(probs)
    if confidence <= 0.5:
        return np.ones(probs.shape[1:], dtype=bool)
    if has_regions:
        return (np.abs(probs - 0.5) >= confidence - 0.5).all(axis=0)
    return probs.max(axis=0) >= confidence
