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

Over-drawn cases (config ``case_flag_volume_margin``, off by default; ablation ``_VolumeFlags``): where the noise has
one direction in part of the cases (markov, dilate ρ 0.5), the teacher is unsure in exactly the shell the noisy labels
add, so the confident score misses them (markov case AUROC 0.63). The label's boundary offset against the teacher —
(|given foreground| − Σ p_teacher(foreground)) / |boundary voxels of the given label|, in voxels
(:func:`boundary_offset`) — ranks them (markov 1.00, dilate 0.98–1.00). :func:`flag_over_drawn` flags a case whose
offset exceeds the median of the lower half of the cases the confident rule did not flag by ``margin`` voxels (the
reference is the cases judged clean so far: mt's eroded cases would drag it down). One direction only: annotators
over-draw (the issue's real-anatomy check), and with one-directional noise in half the cases the two clusters cannot
be told apart by the labels alone. Measured offline (BENCHMARKS.md, the volume score) before it was built.

Cases the image confirms (config ``case_flag_edge_veto``, on by default; ablation ``_NoEdgeVeto``): the confident
score's flags stop at labels that lie on a trusted image edge whose step looks like the dataset's on-edge labels'
(:func:`image_confirmed`). The teacher's disagreement with such a label is the teacher's difficulty with the case, not
the label's error: on clean labels, seed 2, the hardest case (lesion on its edge, offset −0.6, t 17 against a median
of 17) scored 0.27–0.35, the top of a continuum of clean scores, and the 0.25 margin flagged it in 4 of 10 rounds;
the noisy cases the gate flagged at the same borderline scores (one-voxel dilations, markov) all show the whole step
(t ≥ 1.95 × the median) and stay flagged; a label short of its edge shows a faint step (0.3 ×) and is not confirmed. A veto only: the image never adds a flag here, and where the edge fit is
not trusted (a structure without an intensity edge, several classes) the gate is as before.

Under-drawn cases (config ``case_flag_edge_absent``, on by default; ablation ``_NoEdgeFlags``): the image evidence
of the edge repair (:mod:`nnunet_svl.edge`) seen from the other side. A label drawn on its structure's edge has an
intensity step at its boundary; an eroded label's boundary lies inside the structure, where the image does not
change, so the step the edge fit finds inside the label does not stand out of the noise (t < ``min_t``, the fit's
own trust threshold). :func:`flag_edge_absent` flags those cases, but only in a dataset where most labels do have
a step: where the structure has no intensity edge (texture, another contrast), the absence means nothing and nothing
is flagged. A label too small to fit (an empty label: a scan without the structure is not under-drawn) is left to
the confident score. Offline on the benchmark's training
logs (``benchmarks/case_flags``): every clean phantom label has t ≥ 10.4 (median 17), mt's eroded labels t ≤ 3.4
except two one-voxel erosions (5.1, 5.3); it finds the one-voxel erosions whose confident score stays below the
gate's margin (mt seed 1: 3 of its 5 missed cases).
"""
from __future__ import annotations

from typing import Mapping, Optional

import numpy as np

from nnunet_svl.edge.boundary import on_edge_step_reference, on_edge_steps


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


def boundary_offset(given_foreground: np.ndarray, expected_foreground: np.ndarray, valid: np.ndarray) -> float:
    """(|given foreground| − Σ expected foreground) / |boundary voxels of the given foreground| over the valid voxels:
    how far, in voxels, the given label's boundary lies outside the teacher's expected one (negative: inside); 0 for an
    empty label. ``expected_foreground``: the teacher's probability of foreground per voxel."""
    from scipy import ndimage

    fg = np.asarray(given_foreground, dtype=bool) & valid
    surface = int((fg & ~ndimage.binary_erosion(fg)).sum())
    if surface == 0:
        return 0.0
    return (float(fg.sum()) - float(np.asarray(expected_foreground, dtype=np.float64)[valid].sum())) / surface


def flag_over_drawn(offsets: Mapping[str, float], already_flagged: set, margin: float) -> set[str]:
    """Cases not yet flagged whose :func:`boundary_offset` exceeds the median of the lower half of those cases'
    offsets by more than ``margin`` voxels (fewer than 4 such cases: none)."""
    rest = {c: v for c, v in offsets.items() if c not in already_flagged and np.isfinite(v)}
    if len(rest) < 4:
        return set()
    s = np.sort(np.array(list(rest.values()), dtype=float))
    reference = float(np.median(s[: max(2, int(np.ceil(s.size / 2)))]))
    return {c for c, v in rest.items() if v > reference + margin}


def flag_edge_absent(step_t: Mapping[str, float], min_t: float) -> set[str]:
    """Cases whose label boundary has no intensity step that stands out of the noise (``step_t`` < ``min_t``: the t
    of each case's edge fit, :class:`nnunet_svl.edge.boundary.EdgeFit` ``t_value``), provided at least half of the
    fitted cases (and at least 4) have one; otherwise none (see the module docstring). NaN: a case without a fit (too
    little foreground), neither counted nor flagged."""
    t = {c: float(v) for c, v in step_t.items() if np.isfinite(v)}
    with_step = sum(v >= min_t for v in t.values())
    if with_step < 4 or 2 * with_step < len(t):
        return set()
    return {c for c, v in t.items() if v < min_t}


def image_confirmed(fits: Mapping[str, tuple[float, float, bool]], tolerance: float,
                    step_ratio: tuple[float, float] = (0.5, 1.5), min_on_edge_share: float = 0.0) -> set[str]:
    """Cases whose label the image confirms [ours]: the edge fit is trusted, the label lies within ``tolerance``
    voxels of the edge (|offset| ≤ tolerance), and its step's t lies between ``step_ratio`` × the median t of all such
    cases (``nnunet_svl.edge.boundary.on_edge_step_reference``: at least 4 of them, and at least
    ``min_on_edge_share`` of the trusted fits; otherwise none). ``fits``: per
    case (offset, t, trusted).

    ``min_on_edge_share`` (label-qa: 0.5; the teacher gate: 0, as measured in training): the median t stands for a
    label drawn on its edge only while such labels are what most labels look like. When every label is over-drawn
    (ρ 1.0), the few within the tolerance are one-voxel dilations, all with the whole step, and they confirm one
    another (offline, ``benchmarks/label_qa_edge/rho1_image.py``: 4–6 of 24 noisy labels confirmed on 3 of 9 ρ 1.0
    datasets, 4–6 on-edge fits of 18–24 trusted; 12–24 of 24 on every ρ 0.5 and clean dataset).

    Why the step's strength: the fit sees only the inside of the label, so a label drawn on its edge shows the inner
    half of the blurred step, while a label that reaches even a voxel past the edge shows all of it, and its t roughly
    doubles (the step regressor spans about twice the range over the fitted voxels); a label a voxel short of its edge
    shows only the step's faint tail. Offline on the benchmark's training logs (``benchmarks/case_flags/edge_veto.py``,
    one run per dataset): 142 clean on-edge fits at 0.57–1.25 × the median; the one-voxel dilations and markov labels
    within the tolerance at ≥ 1.95 ×, the one-voxel erosions at 0.30–0.31 × (their offsets alone, −1 to +0.95, do
    not tell them from clean labels)."""
    reference = on_edge_step_reference(fits, tolerance, min_share=min_on_edge_share)
    if not np.isfinite(reference):
        return set()
    low, high = step_ratio
    return {c for c, t in on_edge_steps(fits, tolerance).items() if low * reference <= t <= high * reference}


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
