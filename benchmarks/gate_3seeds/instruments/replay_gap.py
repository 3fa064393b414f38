"""Replay the logged flag decisions with an added gap requirement: of the cases above the gate's threshold, keep only
those separated from every unflagged case by a score gap of at least GAP (cut at the widest such gap). Prints, per
log, whether the decisions equal the logged ones in every round (then the run itself is unchanged).
usage: python replay_gap.py GAP TRAIN_LOG..."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
from nnunet_svl.teacher.case_flags import flag_cases
from replay_flags import logged_rounds  # noqa: E402  (same folder)

gap = float(sys.argv[1])


def gapped(scores, flagged):
    if not flagged:
        return set()
    order = sorted(scores, key=scores.get, reverse=True)        # highest first
    n = len(flagged)                                            # the top n are the flagged ones
    best = None
    for i in range(1, n + 1):                                   # cut after the i-th highest
        below = scores[order[i]] if i < len(order) else float("-inf")
        if scores[order[i - 1]] - below >= gap:
            best = i if best is None or (scores[order[i - 1]] - below) > (scores[order[best - 1]] - (scores[order[best]] if best < len(order) else float("-inf"))) else best
    return set(order[:best]) if best else set()


for path in sys.argv[2:]:
    rounds = logged_rounds(path)
    first = None
    for i, (flagged, scores) in enumerate(rounds):
        assert flag_cases(scores, 3.0, 0.25) == flagged
        new = gapped(scores, flagged)
        if new != flagged:
            first = (i, sorted(flagged - new), sorted(new - flagged))
            break
    print(os.path.basename(path), "identical" if first is None else f"differs at round {first}")
