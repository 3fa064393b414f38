"""Correction-quality figures against known clean labels (benchmark diagnostics, issue "measure what the corrections
do") [ours]. Plain numpy; nothing here is used for training decisions.

Per case, :func:`case_record` compares four label maps of one case in the same geometry — the given (noisy)
annotation, the label in force before and after this round, and the clean label — and returns additive counts.
:func:`summarise` turns the records of all cases of a round into figures, per class and split into noisy cases (given
≠ clean somewhere) and clean cases:

* flip precision: of the voxels this round changed, the fraction whose new label equals the clean one;
* recall: of the noisy voxels (given ≠ clean), the fraction whose label in force equals the clean one after the round;
* net fixed − broken: voxels right now and wrong in the given label, minus voxels wrong now and right in the given one;
* the same three per class c (``*_c<c>_<group>``, background included): precision of the flips *to* c, recall of the
  noisy voxels whose clean label is c, net over the voxels whose clean label is c (the pooled figures above sum them);
* Dice(labels in force, clean) per class;
* AUROC of ω for telling noisy voxels (low ω expected) from clean ones, from per-case histograms of ω;
* AUROC of a per-case noise score (e.g. 1 − the network's agreement with the given label) for telling noisy cases;
* with the teacher gate: the precision and recall of the per-case noise flags, and how many clean cases were flagged;
* with the edge repair: the same for the cases the run found noisy by either mechanism (flagged, or moved to the image's
  edge before training): ``found_*``.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

OMEGA_BINS = np.linspace(0.0, 4.0, 161)
"""Histogram edges for ω (values above the last edge fall into the last bin)."""


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for ``positive`` (True = should score high); ties count half; NaN when
    one class is empty (Mann–Whitney U / (n_pos·n_neg))."""
    scores = np.asarray(scores, dtype=float)
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=float)
    sorted_scores = scores[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auroc_from_histograms(hist_positive: np.ndarray, hist_negative: np.ndarray, high_is_positive: bool) -> float:
    """AUROC from two histograms over the same bins (ties within a bin count half)."""
    p = np.asarray(hist_positive, dtype=float)
    n = np.asarray(hist_negative, dtype=float)
    if not high_is_positive:
        p, n = p[::-1], n[::-1]
    if p.sum() == 0 or n.sum() == 0:
        return float("nan")
    below = np.cumsum(n) - n          # negatives in lower bins
    return float((p * (below + 0.5 * n)).sum() / (p.sum() * n.sum()))


def case_record(given: np.ndarray, before: np.ndarray, after: np.ndarray, clean: np.ndarray, classes: Sequence[int],
                valid: np.ndarray, omega: Optional[np.ndarray] = None, case_score: Optional[float] = None,
                flagged: Optional[bool] = None, repaired: Optional[bool] = None) -> dict:
    """Additive counts for one case (arrays of one spatial shape; ``valid`` = voxels with a usable label)."""
    given, before, after, clean = (np.asarray(a)[valid] for a in (given, before, after, clean))
    noisy_vox = given != clean
    flipped = after != before
    rec = {"noisy_case": bool(noisy_vox.any()), "case_score": case_score, "flagged": flagged, "repaired": repaired,
           "flipped": int(flipped.sum()), "flipped_correct": int((flipped & (after == clean)).sum()),
           "noisy_voxels": int(noisy_vox.sum()), "noisy_fixed": int((noisy_vox & (after == clean)).sum()),
           "broken": int((~noisy_vox & (after != clean)).sum()),
           "given_dice": {}, "in_force_dice": {}}
    # per class c (background included: an erosion is repaired by flips to 0): flips to c and how many of them are
    # right, noisy voxels whose clean label is c and how many of them now carry c, voxels of clean class c broken
    rec["per_class"] = {}
    for c in classes:
        to_c, clean_c = flipped & (after == c), clean == c
        rec["per_class"][str(c)] = {
            "flipped": int(to_c.sum()), "flipped_correct": int((to_c & clean_c).sum()),
            "noisy_voxels": int((noisy_vox & clean_c).sum()),
            "noisy_fixed": int((noisy_vox & clean_c & (after == c)).sum()),
            "broken": int((~noisy_vox & clean_c & (after != c)).sum())}
    for c in classes:
        if c == 0:
            continue
        a, g, k = after == c, given == c, clean == c
        rec["in_force_dice"][str(c)] = (int((a & k).sum()), int(a.sum() + k.sum()))
        rec["given_dice"][str(c)] = (int((g & k).sum()), int(g.sum() + k.sum()))
    if omega is not None:
        w = np.asarray(omega)[valid]
        rec["omega_hist_noisy"] = np.histogram(np.clip(w[noisy_vox], 0, OMEGA_BINS[-1]), OMEGA_BINS)[0]
        rec["omega_hist_clean"] = np.histogram(np.clip(w[~noisy_vox], 0, OMEGA_BINS[-1]), OMEGA_BINS)[0]
    return rec


def _dice(pairs: list) -> float:
    inter = sum(p[0] for p in pairs)
    total = sum(p[1] for p in pairs)
    return 1.0 if total == 0 else 2.0 * inter / total


def _case_detection(detected: Sequence[bool], records: Sequence[dict]) -> tuple[int, float, float, int]:
    """(cases detected, precision, recall, clean cases detected) of per-case decisions against ``noisy_case``."""
    tp = sum(1 for d, r in zip(detected, records) if d and r["noisy_case"])
    n, n_noisy = sum(detected), sum(1 for r in records if r["noisy_case"])
    return n, tp / n if n else float("nan"), tp / n_noisy if n_noisy else float("nan"), n - tp


def summarise(records: Sequence[dict]) -> dict:
    """Figures of a round from the case records (keys: ``<figure>_<noisy|clean|all>``; NaN where undefined)."""
    out: dict = {}
    groups = {"noisy": [r for r in records if r["noisy_case"]], "clean": [r for r in records if not r["noisy_case"]],
              "all": list(records)}
    for name, recs in groups.items():
        flipped = sum(r["flipped"] for r in recs)
        noisy = sum(r["noisy_voxels"] for r in recs)
        out[f"flip_precision_{name}"] = sum(r["flipped_correct"] for r in recs) / flipped if flipped else float("nan")
        out[f"flips_{name}"] = flipped
        out[f"recall_{name}"] = sum(r["noisy_fixed"] for r in recs) / noisy if noisy else float("nan")
        out[f"net_fixed_{name}"] = sum(r["noisy_fixed"] - r["broken"] for r in recs)
        for c in sorted({c for r in recs for c in r.get("per_class", {})}, key=int):
            counts = [r["per_class"][c] for r in recs if c in r.get("per_class", {})]
            f, n = sum(k["flipped"] for k in counts), sum(k["noisy_voxels"] for k in counts)
            out[f"flip_precision_c{c}_{name}"] = sum(k["flipped_correct"] for k in counts) / f if f else float("nan")
            out[f"flips_c{c}_{name}"] = f
            out[f"recall_c{c}_{name}"] = sum(k["noisy_fixed"] for k in counts) / n if n else float("nan")
            out[f"net_fixed_c{c}_{name}"] = sum(k["noisy_fixed"] - k["broken"] for k in counts)
        classes = sorted({c for r in recs for c in r["in_force_dice"]})
        for c in classes:
            out[f"dice_in_force_c{c}_{name}"] = _dice([r["in_force_dice"][c] for r in recs]) if recs else float("nan")
            out[f"dice_given_c{c}_{name}"] = _dice([r["given_dice"][c] for r in recs]) if recs else float("nan")
        out[f"cases_{name}"] = len(recs)
    with_omega = [r for r in records if "omega_hist_noisy" in r]
    if with_omega:
        hn = sum(r["omega_hist_noisy"] for r in with_omega)
        hc = sum(r["omega_hist_clean"] for r in with_omega)
        out["omega_auroc_voxels"] = auroc_from_histograms(hn, hc, high_is_positive=False)
    judged = [r for r in records if r.get("flagged") is not None]
    if judged:
        n, precision, recall, false = _case_detection([bool(r["flagged"]) for r in judged], judged)
        out.update(flags=n, flag_precision=precision, flag_recall=recall, flagged_clean_cases=false)
    # cases the run found noisy by either mechanism: flagged by the teacher gate, or moved by the edge repair
    repair_judged = [r for r in records if r.get("repaired") is not None]
    if repair_judged:
        found = [bool(r.get("flagged")) or bool(r["repaired"]) for r in repair_judged]
        n, precision, recall, false = _case_detection(found, repair_judged)
        out.update(repaired_cases=sum(1 for r in repair_judged if r["repaired"]), found_noisy=n,
                   found_precision=precision, found_recall=recall, found_clean_cases=false)
    scored = [r for r in records if r.get("case_score") is not None]
    if scored:
        out["case_score_auroc"] = auroc(np.array([r["case_score"] for r in scored]),
                                        np.array([r["noisy_case"] for r in scored]))
    return out


def foreground_dice(prediction: np.ndarray, label: np.ndarray, classes: Sequence[int], valid: np.ndarray) -> tuple:
    """(2·overlap, |prediction| + |label|) over the foreground classes of one case, valid voxels: a pair that adds up
    over cases (memorisation curves)."""
    p, g = prediction[valid], label[valid]
    inter = total = 0
    for c in classes:
        if c == 0:
            continue
        inter += int(((p == c) & (g == c)).sum())
        total += int((p == c).sum() + (g == c).sum())
    return 2 * inter, total
