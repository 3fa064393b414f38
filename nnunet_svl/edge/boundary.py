"""Image evidence at the label's boundary: where is the edge the annotator meant to follow? [ours]

Every mechanism of the two papers learns from the labels (the network, its EMA teacher, the loss history, the vA3C
reward), so a bias that every label shares — all labels over-drawn, as annotators often do — leaves no consensus that
points at the true boundary (BENCHMARKS.md, "A bias shared by every case": the voxel mechanisms' oracle bound there is
−6.8). The image does not share that bias. This module asks it, one case at a time, with no network:

Around the label's foreground, the image intensity is modelled as a blurred step across the label's signed distance
d (voxels, negative inside, :func:`signed_distance`), fitted on the voxels *inside* the label (``-window <= d <= 0``):

    I(d) ≈ a + b · Φ((e − d) / σ)                                   (Φ: the normal CDF)

with a, b by least squares for every candidate edge position e on a grid, the e of least squared error kept
(:func:`fit_edge`). ``offset = −e`` is how far the label's boundary lies outside the image's edge, in voxels. Only the
inside is fitted, so structures outside the label (the body's edge against air in the phantoms, an organ next door)
do not pull the fit; a label drawn on its edge has its step at the boundary (e ≥ 0: the partial-volume rim), an
over-drawn one has it inside, where the image changes from the object to what surrounds it. The noise of one voxel
averages out over the thousands of voxels of a surface shell, so a lesion at 1.75 noise sd of contrast is located to
about a voxel (benchmarks/edge_offset: the 40³ phantoms, the estimate against the true offset r = 0.86–0.93).

:func:`repair_label` moves the boundary to the edge (foreground voxels with d ≥ e become background) when the offset
exceeds a tolerance and the fit is trustworthy (:class:`EdgeFit` ``reliable``): enough voxels on the object's side
of the edge, the edge not at the end of the search window, a step that stands out of the noise, and of the same sign
as the contrast between the label and its surroundings (the rim between e and the boundary must look like the
outside, not like a darker core inside a bright object). One-sided by design: under-drawn labels (the edge outside
the label) are not grown, since the inside-only fit cannot see the outside; the teacher gate's confident score finds
those (mt's eroded cases). Offline on the phantoms (tolerance 1 voxel): no clean label of 44 moved (largest offset
+0.05 voxel on the raw images, +0.45 in nnU-Net's preprocessed geometry), over-drawn labels' Dice to the clean ones
+13 to +27 points (dilate, markov ρ 0.5), +18 to +19 with every label over-drawn.

At a fainter lesion (1.0 or 0.75 noise sd) a clean label's single fit can land one to three voxels inside its edge
and still be trusted; the trainer therefore moves a label only where its step is also about twice as strong as the
on-edge labels' (:func:`on_edge_step_reference`, ``nnunet_svl.edge.part.EdgeRepairPart.over_drawn``). The octant
jackknife's standard error of the offset (:func:`offset_standard_error`) is logged with each fit.

What it assumes, and where it does not generalise: the structure differs in mean intensity from its surroundings
(in at least one input channel) and is roughly homogeneous inside; one offset per case for the whole foreground.
A structure defined by texture, or several structures of opposite contrast in one case, is left alone only as far as
the reliability checks catch it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Mapping, Optional, Sequence

import numpy as np
from scipy import ndimage
from scipy.special import ndtr


_SHELL = 2.0
"""How far outside the label (signed distance, voxels of the finest spacing) :func:`fit_edge` looks for the label's
surroundings (the polarity check)."""
_SHELL_MARGIN = 3
"""Box margin (voxels) around the foreground that holds every voxel within ``_SHELL`` of it on any spacing."""


MIN_STEP_T = 5.0
"""t below which a fitted step does not stand out of the noise: the fit is not trusted (:func:`fit_edge`), and the
teacher gate reads the label's boundary as lying where the image does not change
(``nnunet_svl.teacher.case_flags.flag_edge_absent``)."""


@dataclass(frozen=True)
class EdgeFit:
    """The fitted edge of one case's foreground."""

    offset: float
    """Voxels the label's boundary lies outside the image's edge (> 0: over-drawn); NaN without a fit."""
    contrast: float
    """b of the step (intensity inside minus outside the edge, in the channel's units)."""
    t_value: float
    """|b| over its standard error."""
    core_voxels: int
    """Label voxels more than σ inside the fitted edge."""
    channel: int
    reliable: bool
    reason: str
    """Why the fit is not trusted ('' when it is)."""
    offset_se: float = float("nan")
    """Standard error of ``offset``, voxels: the jackknife over the fitted voxels' eight octants around their centre
    (:func:`offset_standard_error`); NaN when not computed (fewer than two octants hold enough voxels, or a fit saved
    before 2026-12-03)."""

    @property
    def step_t(self) -> float:
        """t of the fitted step; NaN when nothing was fitted (too little foreground, or no channel with a step:
        ``channel`` −1, where ``t_value`` reads 0)."""
        return self.t_value if self.channel >= 0 else float("nan")

    def moves(self, tolerance: float, z: float = 0.0) -> bool:
        """Whether :func:`repair_label` moves this label: the fit is trusted and its offset exceeds ``tolerance`` by
        ``z`` standard errors (``offset − z·offset_se > tolerance``; with ``z`` > 0 a fit without a standard error
        does not move the label). [ours]"""
        if not (self.reliable and np.isfinite(self.offset)):
            return False
        if z > 0:
            return bool(np.isfinite(self.offset_se) and self.offset - z * self.offset_se > tolerance)
        return bool(self.offset > tolerance)


def signed_distance(mask: np.ndarray, spacing: Optional[Sequence[float]] = None) -> np.ndarray:
    """Signed distance to the boundary of ``mask``, in voxels of the finest spacing: > 0 outside (distance to the
    nearest foreground voxel minus ½), < 0 inside (minus the distance to the nearest background voxel, plus ½), so
    the boundary lies half-way between a foreground voxel and its background neighbour. An empty or full mask gives
    +inf / −inf everywhere."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return np.full(mask.shape, np.inf)
    if mask.all():
        return np.full(mask.shape, -np.inf)
    sampling = None
    if spacing is not None:
        s = np.asarray(spacing, dtype=float)
        sampling = s / s.min()
    outside = ndimage.distance_transform_edt(~mask, sampling=sampling)
    inside = ndimage.distance_transform_edt(mask, sampling=sampling)
    return np.where(mask, 0.5 - inside, outside - 0.5)


def foreground_box(mask: np.ndarray, margin: int) -> tuple[slice, ...]:
    """The bounding box of ``mask``'s True voxels grown by ``margin`` voxels on every side and clipped to the array;
    the whole array for an empty mask. [ours]

    Why the edge fit and the repair may work inside it, with the same numbers at a lesion's cost instead of the whole
    volume's (2.6 s → 0.15 s per distance transform of a radius-35 sphere in 128³, one core of this machine): with a
    margin of at least one voxel, every voxel on the box's border is background, and for a foreground voxel p and
    any background voxel q outside the box, q clamped onto the box is a background voxel no farther from p (for any
    axis-wise spacing); so the inside distances are exact. All the foreground lies in the box, so the outside
    distances are exact for every voxel of the box, which holds every voxel within ``margin`` voxels of the
    foreground along each axis."""
    mask = np.asarray(mask, dtype=bool)
    found = ndimage.find_objects(mask.astype(np.uint8))
    if not found:
        return tuple(slice(0, n) for n in mask.shape)
    return tuple(slice(max(s.start - margin, 0), min(s.stop + margin, n)) for s, n in zip(found[0], mask.shape))


def _fit_channel(d: np.ndarray, y: np.ndarray, window: float, sigma: float, step: float) -> tuple:
    """(e, b, t, sse) of the least-squares step over the candidate grid (module docstring).

    The step's regressor depends on a voxel only through its distance d, and distance transforms take few distinct
    values (isotropic: −½ + √k, at most ~70 within 8 voxels), so the sums of the least squares are taken over the
    distinct distances with their voxel counts and intensity sums: the same fit, at a cost of one pass over the
    voxels instead of one per candidate edge (141 candidates by default)."""
    n = d.size
    ym = y.mean()
    yc = y - ym
    syy = float(yc @ yc)
    levels, which = np.unique(d, return_inverse=True)
    count = np.bincount(which, minlength=levels.size).astype(np.float64)
    centred_sum = np.bincount(which, weights=yc, minlength=levels.size)           # Σ (y − ȳ) per distance
    best = (np.nan, 0.0, 0.0, np.inf)
    for e in np.arange(-window + 1.0, 1.0 + 1e-9, step):
        x = ndtr((e - levels) / sigma)
        xc = x - float(count @ x) / n
        vx = float(count @ (xc * xc))
        if vx <= 1e-9 * n:
            continue
        b = float(xc @ centred_sum) / vx
        sse = syy - b * b * vx
        if sse < best[3]:
            se = np.sqrt(max(sse, 0.0) / max(n - 2, 1) / vx)
            best = (float(e), b, float(abs(b) / se) if se > 0 else float("inf"), sse)
    return best


MIN_OCTANT_VOXELS = 50
"""Fitted voxels an octant needs to count as a jackknife group (:func:`offset_standard_error`)."""


def offset_standard_error(d: np.ndarray, y: np.ndarray, positions: np.ndarray, window: float, sigma: float,
                          step: float) -> float:
    """Standard error of the fitted edge position, voxels, by the delete-a-group jackknife over the eight octants of
    the fitted voxels around their centre (``positions``: (n, 3) voxel indices of ``d``'s voxels). [ours]

    Why: the voxels of one surface are not independent samples (a smooth texture, a bias field, the lesion's own
    uneven rim), so the least-squares standard error of a voxel-wise fit is far too small; whole octants are close to
    independent replicates of the surface. With g octants of at least :data:`MIN_OCTANT_VOXELS` voxels and e₋ₖ the
    edge fitted without octant k, SE² = (g − 1)/g · Σₖ (e₋ₖ − ē)². NaN with fewer than two such octants. On the
    phantoms at the default lesion contrast (1.75 noise sd) clean labels' offsets have SE 0.5–0.7 voxel and
    over-drawn ones 0.1–0.5; at 1.0 noise sd a clean label's single fit lands up to 1.6 voxels out with SE 0.7–4.3
    (BENCHMARKS.md, "The edge repair at a fainter lesion contrast")."""
    if d.size == 0:
        return float("nan")
    octant = ((positions - positions.mean(axis=0)) > 0).astype(np.int64) @ np.array([4, 2, 1])
    left_out = []
    for k in range(8):
        keep = octant != k
        if d.size - int(keep.sum()) < MIN_OCTANT_VOXELS:
            continue
        e = _fit_channel(d[keep], y[keep], window, sigma, step)[0]
        if np.isfinite(e):
            left_out.append(e)
    g = len(left_out)
    if g < 2:
        return float("nan")
    e = np.asarray(left_out)
    return float(np.sqrt((g - 1) / g * ((e - e.mean()) ** 2).sum()))


def fit_edge(image: np.ndarray, foreground: np.ndarray, valid: Optional[np.ndarray] = None,
             spacing: Optional[Sequence[float]] = None, window: float = 8.0, sigma: float = 1.5,
             step: float = 0.05, min_core_voxels: int = 100, min_t: float = MIN_STEP_T) -> EdgeFit:
    """Fit the blurred step of the module docstring to the foreground of one case.

    ``image``: (C, *sp) input channels; ``foreground``: (*sp) boolean label foreground; ``valid``: (*sp) voxels that
    may be used (not nnU-Net's ignore label); ``window``: how deep inside the label the fit looks, voxels. Every
    channel is fitted; the one whose step stands out most (largest t) is kept."""
    fg = np.asarray(foreground, dtype=bool)
    valid = np.ones(fg.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    fg = fg & valid
    none = EdgeFit(float("nan"), 0.0, 0.0, 0, -1, False, "")
    if fg.sum() < min_core_voxels:
        return replace(none, reason=f"fewer than {min_core_voxels} foreground voxels")
    box = foreground_box(fg, _SHELL_MARGIN)       # every voxel the fit reads lies in it (see foreground_box)
    fg, valid, image = fg[box], valid[box], np.asarray(image)[(slice(None), *box)]
    sd = signed_distance(fg, spacing)
    inside = fg & (sd >= -window)
    d = sd[inside]
    shell = valid & ~fg & (sd <= _SHELL)                # the label's immediate surroundings (polarity check)
    best: Optional[tuple] = None
    for c in range(image.shape[0]):
        y = np.asarray(image[c], dtype=np.float64)[inside]
        e, b, t, _ = _fit_channel(d, y, window, sigma, step)
        if np.isfinite(e) and (best is None or t > best[2]):
            best = (e, b, t, c)
    if best is None:
        return replace(none, reason="no step fits (a flat image inside the label)")
    e, b, t, c = best
    se = offset_standard_error(d, np.asarray(image[c], dtype=np.float64)[inside], np.argwhere(inside), window,
                               sigma, step)
    core_mask = fg & (sd <= e - sigma)
    core = int(core_mask.sum())
    reason = ""
    if core < min_core_voxels:
        reason = f"{core} voxels inside the edge (< {min_core_voxels})"
    elif e <= -window + 1.0 + step / 2:
        reason = "the edge is at the deep end of the search window"
    elif t < min_t:
        reason = f"the step stands out of the noise by t = {t:.1f} (< {min_t})"
    elif shell.any():
        channel = np.asarray(image[c], dtype=np.float64)
        across = channel[core_mask].mean() - channel[shell].mean()
        if np.sign(across) != np.sign(b):
            reason = "the step inside the label has the opposite sign of the label's contrast with its surroundings"
    return EdgeFit(offset=-e, contrast=b, t_value=t, core_voxels=core, channel=c, reliable=not reason, reason=reason,
                   offset_se=se)


def repair_label(label: np.ndarray, fit: EdgeFit, tolerance: float, valid: Optional[np.ndarray] = None,
                 spacing: Optional[Sequence[float]] = None) -> np.ndarray:
    """``label`` (*sp, integer classes, 0 background) with its foreground boundary moved in to the fitted edge:
    foreground voxels whose signed distance is at least the edge position become background. The same array (not a
    copy) when nothing moves: the fit is unreliable or its offset is at most ``tolerance`` voxels."""
    if not fit.moves(tolerance):
        return label
    valid = np.ones(label.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    fg = (label > 0) & valid
    box = foreground_box(fg, 1)                  # inside distances are exact in it (see foreground_box)
    fg = fg[box]
    sd = signed_distance(fg, spacing)
    out = label.copy()
    out[box][fg & (sd >= -fit.offset)] = 0
    return out


def repair_to_edge(image: np.ndarray, label: np.ndarray, tolerance: float, steps: int = 1,
                   valid: Optional[np.ndarray] = None, spacing: Optional[Sequence[float]] = None,
                   judge: Optional[Callable[[EdgeFit], bool]] = None,
                   **fit_options) -> tuple[np.ndarray, list[EdgeFit]]:
    """Fit, move (:func:`repair_label`), and fit the moved label again, up to ``steps`` moves: ``(label, fits)``,
    one fit per step taken, the last one the fit that stopped (within ``tolerance``, or not trusted) unless ``steps``
    ran out. ``steps = 1`` is one fit and one move. [ours]

    Why more than one: a far over-drawn label's single fit falls short of its edge (offline, the phantoms' cube
    dilations: labels 5–7 voxels out along the axes fitted at 2–3), since one offset stands for a whole surface whose
    rim is uneven (a cube grows further along the diagonals, merged lobes fill concavities); fitted again after the
    move, the rest of the rim is within the window's reach. A label the first fit does not move is never re-fitted,
    so the clean labels are untouched exactly as with one step. ``fit_options`` go to :func:`fit_edge`.

    ``judge(first_fit)``: whether the label is over-drawn at all (default: :meth:`EdgeFit.moves` with
    ``tolerance``); the trainer's rule adds the step strength and the offset's precision
    (``nnunet_svl.edge.part.EdgeRepairPart.over_drawn``). A refit only locates the edge of a label already judged
    over-drawn and moves it while its offset exceeds ``tolerance``."""
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    fits: list[EdgeFit] = []
    out = label
    for i in range(int(steps)):
        fit = fit_edge(image, out > 0, valid=valid, spacing=spacing, **fit_options)
        fits.append(fit)
        if i == 0 and judge is not None and not judge(fit):
            break
        moved = repair_label(out, fit, tolerance, valid=valid, spacing=spacing)
        if moved is out:
            break
        out = moved
    return out, fits


def reached_edge(fits: Sequence[EdgeFit], tolerance: float) -> bool:
    """Whether a repair with these fits (first fit first, as :func:`repair_to_edge` returns them) moved the label and
    ended on the image's edge: the first fit moves it and a later fit, the one after the last move, is trusted and
    within ``tolerance``. False for a label not moved, and for one still beyond the edge when the steps ran out (its
    last fit moved it and nothing checked the result). A caller whose ``judge`` kept a label in place asks it first
    (the part does). [ours]"""
    if len(fits) < 2 or not fits[0].moves(tolerance):
        return False
    last = fits[-1]
    return bool(last.reliable and np.isfinite(last.offset) and abs(last.offset) <= tolerance)


def replay_repair(label: np.ndarray, fits: Sequence[EdgeFit], tolerance: float, valid: Optional[np.ndarray] = None,
                  spacing: Optional[Sequence[float]] = None,
                  judge: Optional[Callable[[EdgeFit], bool]] = None) -> np.ndarray:
    """The label :func:`repair_to_edge` returned (with the same ``judge``), from its ``fits`` alone (no image): each
    move is a function of the label and the fit. The same array when the first fit does not move it."""
    if fits and judge is not None and not judge(fits[0]):
        return label
    out = label
    for fit in fits:
        moved = repair_label(out, fit, tolerance, valid=valid, spacing=spacing)
        if moved is out:
            break
        out = moved
    return out


STEP_REFERENCE_MIN_LABELS = 4
"""On-edge labels :func:`on_edge_step_reference` needs."""


def on_edge_step_reference(fits: Mapping[str, tuple[float, float, bool]], tolerance: float,
                           min_share: float = 0.5) -> float:
    """The median step t of the labels that lie on their image's edge (trusted fits within ``tolerance``), the
    reference an over-drawn label's step is judged against; NaN unless at least :data:`STEP_REFERENCE_MIN_LABELS`
    labels and a share ``min_share`` of the trusted fits lie on the edge. ``fits``: per case (offset, t, trusted).
    [ours]

    Why: the fit sees only the inside of a label, so a label drawn on its edge shows the inner half of the blurred
    step and one that lies past its edge shows all of it, with about twice the t (``nnunet_svl.teacher.case_flags.
    image_confirmed`` uses the same reading). Where the lesion's edge is faint, a clean label's single fit can land
    one to three voxels inside it, trusted, with the step of an on-edge label (offline, the phantoms at 0.75–1.0 noise
    sd of lesion contrast: 0.6–1.7 × the reference; over-drawn labels 2.4 × and more; BENCHMARKS.md, "The edge repair
    at a fainter lesion contrast"). While most labels are over-drawn (ρ 1.0), the few within the tolerance are mild
    dilations that show the whole step themselves, so the reference needs them to be common (``min_share``): on the
    benchmark's markov ρ 1.0 draws a quarter would have set it at twice an on-edge label's and kept every label."""
    on_edge = on_edge_steps(fits, tolerance)
    n_trusted = sum(bool(trusted) and np.isfinite(offset) for offset, _, trusted in fits.values())
    if len(on_edge) < STEP_REFERENCE_MIN_LABELS or len(on_edge) < min_share * n_trusted:
        return float("nan")
    return float(np.median(list(on_edge.values())))


def on_edge_steps(fits: Mapping[str, tuple[float, float, bool]], tolerance: float) -> dict[str, float]:
    """The step t of each case whose label lies on its image's edge: a trusted fit within ``tolerance`` voxels
    (|offset| ≤ tolerance). ``fits``: per case (offset, t, trusted). [ours]"""
    return {c: float(t) for c, (offset, t, trusted) in fits.items()
            if trusted and np.isfinite(offset) and abs(offset) <= tolerance}
