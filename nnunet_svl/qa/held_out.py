"""Label quality from held-out predictions (docs/METHOD.md §7) [ours, in the spirit of confident learning].

nnU-Net's 5-fold cross-validation predicts every training case with a model that never trained on it
(``nnUNetv2_train ... --npz`` keeps the probabilities). Those held-out probabilities judge a label far better than a
network that memorised it. Plain numpy; the I/O is in :mod:`nnunet_svl.tools.label_qa`.

1. **Calibration** (:func:`fit_temperature`): one temperature T for all cases, fitted by minimising the negative
   log-likelihood of the given labels under softmax(log p / T) on a class-balanced voxel sample (the same number of
   voxels per given class, so that background does not decide T alone). nnU-Net stores probabilities, not logits;
   log p is the logits up to a per-voxel constant, which the softmax ignores.
2. **Per-class thresholds** (:func:`class_thresholds`): t_c = mean calibrated probability of class c over the voxels
   labelled c (confident learning's per-class self-confidence).
3. **Voxel suspicion** (:func:`voxel_suspicion`): 1 − p_T(given label); a voxel is a **label issue** when
   p_T(given) < t_given and some other class j has p_T(j) ≥ t_j (it sits off the diagonal of the confident joint).
4. **Case score** (:func:`case_score`): per foreground class c, the Dice of the held-out argmax with the given mask
   of c; the case's quality is the minimum over the classes present in the label or the prediction (one badly drawn
   structure makes a bad case), its noise score 1 − quality. (The soft Dice of the calibrated probabilities ranked
   noisy cases worse — case AUROC 0.74 vs 0.93 on the benchmark's mt seed 0 — because calibration (T ≈ 2) softens
   every boundary and lesion size then dominates; BENCHMARKS.md.) Cases are flagged with the same robust
   outlier rule as the teacher gate (:func:`nnunet_svl.teacher.case_flags.flag_cases`).
5. **Volume ratio** (:func:`volume_ratios`): the given label's volume against the held-out expected volume, per class
   (reported, not used for flags).
6. **Confusion** (:func:`confusion_counts`): voxel counts of (given label, held-out argmax).

Regions (nnU-Net's region-based training, one sigmoid channel per region): every region is its own two-class
problem — outside / inside, the given membership against [1 − p_r, p_r] (:func:`region_problem`) — with its own
temperature and thresholds; a voxel's suspicion is its largest over the regions, a label issue in any region is an
issue, and a case's quality is the minimum Dice over its regions [ours]. nnU-Net's ignore label is excluded from
everything.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

EPS = 1e-6


def region_problem(region_probability: np.ndarray, label: np.ndarray,
                   members: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """One region of a region-based dataset as a two-class problem: probabilities (2, *sp) = [1 − p_r, p_r] and the
    given membership (1 where the label value is one of ``members``, 0 elsewhere, −1 where ``label`` < 0: ignored)."""
    p = np.clip(region_probability.astype(np.float32), 0.0, 1.0)
    inside = np.isin(label, np.asarray(members))
    membership = np.where(label < 0, -1, inside.astype(np.int16)).astype(np.int16)
    return np.stack([1.0 - p, p]), membership


def calibrate(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T) over axis 0 (float32)."""
    z = np.log(np.clip(probs.astype(np.float32), EPS, 1.0)) / np.float32(temperature)
    z -= z.max(axis=0, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=0, keepdims=True)


def _nll(log_p: np.ndarray, y: np.ndarray, temperature: float) -> float:
    """Mean −log softmax(log_p / T)[y] over samples; log_p (N, C)."""
    z = log_p / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(log_norm - z[np.arange(len(y)), y]))


def balanced_sample(probs: Sequence[np.ndarray], labels: Sequence[np.ndarray], per_class: int = 20000,
                    rng: Optional[np.random.Generator] = None) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``per_class`` voxels of every given class (label value = channel index), drawn uniformly over all cases:
    (N, C) log-probabilities and (N,) labels. ``labels`` < 0 (ignore) are skipped."""
    rng = rng or np.random.default_rng(0)
    n_classes = probs[0].shape[0]
    log_p, ys = [], []
    for c in range(n_classes):
        where = [np.flatnonzero(lab.reshape(-1) == c) for lab in labels]
        total = sum(len(w) for w in where)
        if total == 0:
            continue
        take = min(per_class, total)
        picks = np.sort(rng.choice(total, size=take, replace=False))
        offsets = np.cumsum([0] + [len(w) for w in where])
        for i, (p, w) in enumerate(zip(probs, where)):
            mine = picks[(picks >= offsets[i]) & (picks < offsets[i + 1])] - offsets[i]
            if len(mine):
                flat = p.reshape(n_classes, -1)[:, w[mine]].T
                log_p.append(np.log(np.clip(flat, EPS, 1.0)))
                ys.append(np.full(len(mine), c))
    return np.concatenate(log_p).astype(np.float64), np.concatenate(ys)


def fit_temperature(log_p: np.ndarray, y: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0),
                    iterations: int = 60) -> float:
    """T minimising the NLL of ``y`` under softmax(log_p / T) (golden-section search over log T; the NLL is
    unimodal in T for fixed logits)."""
    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = _nll(log_p, y, np.exp(a)), _nll(log_p, y, np.exp(b))
    for _ in range(iterations):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = _nll(log_p, y, np.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = _nll(log_p, y, np.exp(b))
    return float(np.exp((lo + hi) / 2))


def class_sums(probs: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per class c: (Σ p(c) over the voxels labelled c, their number) of one case (streams over cases)."""
    n_classes = probs.shape[0]
    sums, counts = np.zeros(n_classes), np.zeros(n_classes)
    for c in range(n_classes):
        m = label == c
        sums[c] = float(probs[c][m].sum())
        counts[c] = int(m.sum())
    return sums, counts


def class_thresholds(probs: Sequence[np.ndarray], labels: Sequence[np.ndarray]) -> np.ndarray:
    """t_c = mean calibrated p(c) over all voxels labelled c (NaN for a class nobody labelled)."""
    sums, counts = (sum(parts) for parts in zip(*(class_sums(p, lab) for p, lab in zip(probs, labels))))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def given_probability(probs: np.ndarray, label: np.ndarray) -> np.ndarray:
    """p(given label) per voxel (1 where the label is ignored, so it is never suspect)."""
    idx = np.clip(label, 0, probs.shape[0] - 1).astype(np.int64)
    p = np.take_along_axis(probs, idx[None], axis=0)[0]
    return np.where(label >= 0, p, 1.0)


def voxel_suspicion(probs: np.ndarray, label: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(suspicion 1 − p(given), label-issue mask) of one case; see the module docstring."""
    p_given = given_probability(probs, label)
    t = np.nan_to_num(thresholds, nan=np.inf)
    t_given = t[np.clip(label, 0, len(t) - 1)]
    confident_other = np.zeros(label.shape, dtype=bool)
    for j in range(probs.shape[0]):
        confident_other |= (probs[j] >= t[j]) & (label != j)
    issue = (p_given < t_given) & confident_other & (label >= 0)
    return (1.0 - p_given).astype(np.float32), issue


@dataclass
class CaseScore:
    case: str
    noise_score: float
    """1 − min over present classes of the Dice of the held-out argmax with the given mask of c."""
    per_class: dict
    """class value → Dice."""
    issue_voxels: int
    foreground_voxels: int
    """Voxels of the given foreground."""


def case_score(case: str, probs: np.ndarray, label: np.ndarray, issue: np.ndarray) -> CaseScore:
    valid = label >= 0
    pred = probs.argmax(0)
    per_class = {}
    for c in range(1, probs.shape[0]):
        g = (label == c) & valid
        p = (pred == c) & valid
        if not g.any() and not p.any():           # absent from both: nothing to judge
            continue
        per_class[c] = float(2 * (p & g).sum() / (p.sum() + g.sum()))
    quality = min(per_class.values()) if per_class else 1.0
    return CaseScore(case, 1.0 - quality, per_class, int(issue.sum()), int(((label > 0) & valid).sum()))


def volume_ratios(probs: np.ndarray, label: np.ndarray) -> dict:
    """Per foreground class c: (|given = c| + 1) / (Σ p(c) + 1) over the valid voxels — the label's volume against the
    held-out model's expected volume [ours]. Well above 1: the label is drawn larger than the model expects (over-drawn
    boundaries), well below: smaller. A bias every case shares is invisible here (the model learned it too); one that
    some cases carry is what it shows (BENCHMARKS.md, the volume score). Use the uncalibrated probabilities: the
    expected volume is what the model predicts."""
    valid = label >= 0
    return {c: float(((label == c) & valid).sum() + 1) / float(probs[c][valid].sum() + 1)
            for c in range(1, probs.shape[0])}


def confusion_counts(probs: np.ndarray, label: np.ndarray) -> np.ndarray:
    """(C, C) voxel counts: row = given label, column = held-out argmax (ignored voxels left out)."""
    n = probs.shape[0]
    pred = probs.argmax(0)
    valid = label >= 0
    return np.bincount(label[valid].astype(np.int64) * n + pred[valid], minlength=n * n).reshape(n, n)
