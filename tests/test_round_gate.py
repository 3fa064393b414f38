"""The correction gate's agreement measure (hand-checked): foreground Dice from a label round's summed counts."""
from nnunet_svl.parts.label_round import agreement_of


def test_agreement_from_summed_counts():
    # case A: prediction 6 fg voxels, label 4, overlap 4; case B: prediction 0, label 10 (the network misses it)
    totals = {"agree_overlap": 4 + 0, "agree_total": (6 + 4) + (0 + 10)}
    assert agreement_of(totals) == 2 * 4 / 20 == 0.4


def test_agreement_edge_cases():
    assert agreement_of({}) is None                                   # a round that did not measure
    assert agreement_of({"agree_overlap": 0, "agree_total": 0}) == 1.0  # both empty: nothing to disagree on
    assert agreement_of({"agree_overlap": 0, "agree_total": 7}) == 0.0
