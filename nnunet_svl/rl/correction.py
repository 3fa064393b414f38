"""One label-correction proposal for one case (docs/METHOD.md §1.2 "Dynamic iterative label update").

Given the current label G and the agents' refined foreground probabilities (whole case, preprocessed geometry):

1. Candidate class per voxel from P = [p_bg, p_1, …, p_K] with p_bg = clip(1 − Σ p_fg, 0, 1), renormalised to sum 1
   (binary and multi-class alike; the refined beliefs of different classes need not sum to 1).
2. A voxel flips to its candidate only if the candidate differs from its label, P(candidate) ≥ τ, its label is
   background or one of ``fg_labels`` (never the ignore label, nor nnU-Net's −1 outside the mask), and, when DALE's
   label confidence ω is given, ω < ``omega_gate`` (only labels that are persistently contradicted move).
3. No new connected components, for every class including background [ours]: a component of the new mask of class c
   that does not overlap the old mask of c is reverted to the old labels. For foreground this rejects stray blobs;
   for background it rejects punched-in cavities (background enclosed by foreground with no contact to the old
   background), while erosion from the boundary — the correction of over-segmented labels — stays connected to the
   old background and is kept. Splits of an existing component are allowed: eroding a thin false bridge between two
   structures (dilation noise) is a legitimate correction. Reverting only restores voxels to classes they already
   had, so it cannot create a new component itself.
4. Safeguards against a feedback loop [ours] (a demo run without them deleted every lesion within four rounds: an
   undertrained policy's greedy actions drift the belief one way, the network then learns the shrunken labels):
   ``support`` — the segmentation network's own probability of the candidate must be ≥ ``support_min`` (the agents
   may sharpen what the network leans to, not overrule it); ``band`` — only voxels within ``band`` voxels of the
   current label's boundary may flip (label noise moves boundaries; it does not invent or delete whole objects);
   ``keep_components`` — a foreground component of the current label never disappears completely.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import cc3d
import numpy as np

from nnunet_svl.rl.reward import cc3d_connectivity


@dataclass
class CorrectionStats:
    """JSON-able summary (``dataclasses.asdict``). Per-class dicts are keyed by the foreground label as a string."""

    n_candidates: int = 0
    """Voxels passing the per-voxel tests (step 2), before the component check."""
    n_flipped: int = 0
    """Voxels whose label changed."""
    n_rejected_new_components: int = 0
    """Components reverted because they would have been new (step 3)."""
    n_rejected_voxels: int = 0
    """Voxels in those components."""
    added: dict[str, int] = field(default_factory=dict)
    """Per foreground class: voxels that became this class."""
    removed: dict[str, int] = field(default_factory=dict)
    """Per foreground class: voxels that left this class."""


def class_probabilities(refined_fg: np.ndarray) -> np.ndarray:
    """(K + 1, *sp) float32 [p_bg, p_1..p_K] from foreground probabilities (K, *sp), each voxel summing to 1."""
    fg = np.clip(np.asarray(refined_fg, dtype=np.float32), 0.0, 1.0)
    bg = np.clip(1.0 - fg.sum(axis=0, keepdims=True), 0.0, 1.0)
    probs = np.concatenate([bg, fg], axis=0)
    return probs / np.maximum(probs.sum(axis=0, keepdims=True), np.float32(1e-12))


def propose_corrections(label: np.ndarray, refined_fg: np.ndarray, fg_labels: list[int], tau: float = 0.8,
                        omega: Optional[np.ndarray] = None, omega_gate: Optional[float] = None,
                        ignore_label: Optional[int] = None, connectivity: int = 26,
                        support: Optional[np.ndarray] = None, support_min: float = 0.5,
                        band: Optional[float] = None,
                        keep_components: bool = True) -> tuple[np.ndarray, CorrectionStats]:
    """New label for one case and what changed (procedure in the module docstring).

    ``label``: integer (*sp) current label; ``refined_fg``: (K, *sp) refined probabilities of ``fg_labels`` (same
    order); ``tau``: minimum probability of the candidate; ``omega``: (*sp) label confidence, used with
    ``omega_gate``; ``connectivity``: cc3d connectivity (26/18/6; in 2-D 8/4, with 26→8, 6→4). Inputs are not
    modified; the result has ``label``'s dtype. ``support`` (K, *sp): the network's unrefined foreground
    probabilities; ``band``: maximum distance (voxels) from the label boundary; see step 4.
    """
    label = np.asarray(label)
    refined_fg = np.asarray(refined_fg)
    if refined_fg.ndim != label.ndim + 1 or refined_fg.shape[1:] != label.shape:
        raise ValueError(f"refined_fg shape {refined_fg.shape} must be (K,) + label shape {label.shape}")
    if refined_fg.shape[0] != len(fg_labels):
        raise ValueError(f"refined_fg has {refined_fg.shape[0]} channels but fg_labels has {len(fg_labels)} labels")
    if (omega is None) != (omega_gate is None):
        raise ValueError("omega and omega_gate must be given together")
    if omega is not None and np.shape(omega) != label.shape:
        raise ValueError(f"omega shape {np.shape(omega)} != label shape {label.shape}")
    conn = cc3d_connectivity(label.ndim, connectivity)

    classes = np.asarray([0] + [int(c) for c in fg_labels], dtype=np.int64)
    probs = class_probabilities(refined_fg)
    candidate = classes[probs.argmax(axis=0)]
    confident = probs.max(axis=0) >= tau
    correctable = np.isin(label, classes)
    if ignore_label is not None:
        correctable &= label != ignore_label
    flip = (candidate != label) & confident & correctable
    if omega is not None:
        flip &= np.asarray(omega) < omega_gate
    if support is not None:
        support_probs = class_probabilities(support)
        flip &= np.take_along_axis(support_probs, probs.argmax(axis=0)[None], axis=0)[0] >= support_min
    if band is not None:
        from scipy.ndimage import distance_transform_edt

        from nnunet_svl.dale.partition import label_boundary

        boundary = label_boundary(label)
        flip &= distance_transform_edt(~boundary) <= band if boundary.any() else np.zeros_like(flip)
    stats = CorrectionStats(n_candidates=int(flip.sum()))

    new = label.copy()
    new[flip] = candidate[flip].astype(label.dtype)
    if flip.any():
        revert = np.zeros(label.shape, dtype=bool)
        for c in classes:
            new_mask = new == c
            if not (new_mask & flip).any():
                continue
            components, n = cc3d.connected_components(new_mask, connectivity=conn, return_N=True)
            overlap = np.bincount(components[new_mask & (label == c)].ravel(), minlength=n + 1)
            stray = overlap == 0  # lookup table over component ids; id 0 is "not class c"
            stray[0] = False
            if stray.any():
                revert |= stray[components]
                stats.n_rejected_new_components += int(stray.sum())
        if keep_components:
            for c in fg_labels:
                old_mask = label == c
                if not old_mask.any():
                    continue
                components, n = cc3d.connected_components(old_mask, connectivity=conn, return_N=True)
                kept = np.bincount(components[old_mask & (new == c) & ~revert].ravel(), minlength=n + 1)
                lost = kept == 0
                lost[0] = False
                if lost.any():
                    revert |= lost[components]
                    stats.n_rejected_new_components += int(lost.sum())
        stats.n_rejected_voxels = int(revert.sum())
        new[revert] = label[revert]

    changed = new != label
    stats.n_flipped = int(changed.sum())
    for c in fg_labels:
        stats.added[str(c)] = int((changed & (new == c)).sum())
        stats.removed[str(c)] = int((changed & (label == c)).sum())
    return new, stats
