"""Replay the teacher gate's flag decisions of finished runs from their logs with another margin: the logs print
every round's scores; as long as the replayed flags equal the logged ones in every round, the run with the other
margin is exactly the logged run (same flags → same training), so its Dice is known without training.
usage: python replay_flags.py MARGIN TRAIN_LOG...  → per log: rounds, first round where the flags would differ"""
import ast, os, re, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
from nnunet_svl.teacher.case_flags import flag_cases


def logged_rounds(path: str) -> list[tuple[set, dict]]:
    """(flagged cases, every case's score) of each round the teacher gate logged in a training log."""
    rounds = []
    for line in open(path):
        m = re.search(r"teacher gate: \d+ of \d+ cases flagged \((\[.*?\])\); scores \{(.*)\}", line)
        if m:
            flagged = set(ast.literal_eval(m.group(1)))
            scores = {k.strip(): float(v) for k, v in (kv.split(":") for kv in m.group(2).split(","))}
            rounds.append((flagged, scores))
    return rounds


def main(margin: float, paths: list[str]) -> None:
    for path in paths:
        rounds = logged_rounds(path)
        first_diff = None
        for i, (flagged, scores) in enumerate(rounds):
            replay = flag_cases(scores, k=3.0, margin=margin)
            if replay != flagged:
                first_diff = (i, sorted(flagged - replay), sorted(replay - flagged))
                break
        print(os.path.basename(path), "rounds", len(rounds),
              "identical" if first_diff is None else f"differs at round {first_diff}")


if __name__ == "__main__":
    main(float(sys.argv[1]), sys.argv[2:])
