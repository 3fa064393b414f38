"""Which training cases are noisy: robust flags from per-case teacher–label disagreement [ours].

Score of a case: 1 − foreground Dice between the teacher's prediction and the given label. Label noise in practice
is per annotation, so a noisy case disagrees with a teacher that learned from all cases more than the clean cases do.
The reference distribution is the *lower half* of the scores (the cases that agree best), which stays clean as long
as at most half of the cases are noisy: a case is flagged when its score exceeds

    median_low + max(k · 1.4826 · MAD_low, margin)

(median and median absolute deviation of the lower half; 1.4826·MAD estimates a standard deviation; ``margin`` keeps
the threshold off the typical score when the lower half happens to agree almost exactly: a flagged case disagrees
with the teacher by at least ``margin`` (in 1 − Dice) more than a typical case). With every case
biased alike (e.g. all labels over-drawn) nothing stands out and nothing is flagged: per-case flags cannot see a bias
shared by all cases, by design. Flags accumulate over rounds (a case flagged in ``persist`` rounds stays flagged).
"""
from __future__ import annotations

from typing import Mapping

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


def disagreement_score(teacher_label: np.ndarray, given: np.ndarray, valid: np.ndarray) -> float:
    """1 − foreground Dice (all foreground classes, class by class) of the teacher's argmax and the given label over
    the valid voxels; 0 when both are empty."""
    t, g = teacher_label[valid], given[valid]
    classes = np.union1d(np.unique(t), np.unique(g))
    inter = total = 0
    for c in classes[classes > 0]:
        inter += int(((t == c) & (g == c)).sum())
        total += int((t == c).sum() + (g == c).sum())
    return 0.0 if total == 0 else 1.0 - 2.0 * inter / total
