"""The teacher gate's pieces, hand-checked: robust case flags, the disagreement score, the EMA teacher."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from nnunet_svl.teacher.case_flags import disagreement_score, flag_cases, flag_threshold
from nnunet_svl.teacher.ema import EMATeacher


def test_flag_threshold_uses_the_lower_half():
    # lower half of 8 scores: 0.02 0.04 0.05 0.05 → median 0.045, MAD median(|.|) of (0.025, 0.005, 0.005, 0.005) = 0.005
    scores = np.array([0.05, 0.02, 0.04, 0.05, 0.30, 0.45, 0.5, 0.06])
    t = flag_threshold(scores, k=3.0, margin=0.0)
    assert t == pytest.approx(0.045 + 3 * 1.4826 * 0.005)
    assert flag_threshold(scores, k=3.0, margin=0.1) == pytest.approx(0.145)   # the margin wins over 3·σ = 0.022
    flagged = flag_cases(dict(zip("abcdefgh", scores)), k=3.0, margin=0.1)
    assert flagged == {"e", "f", "g"}
    assert flag_threshold(np.array([0.1, 0.9, 0.2]), 3.0, 0.0) == math.inf   # too few cases to judge


def test_every_case_alike_flags_nothing():
    # a bias shared by all cases (e.g. every label dilated) leaves no outlier
    scores = {f"c{i}": 0.30 + 0.01 * (i % 3) for i in range(10)}
    assert flag_cases(scores, k=3.0, margin=0.1) == set()


def test_disagreement_score():
    teacher = np.array([0, 1, 1, 1, 2])
    given = np.array([0, 1, 1, 0, 2])
    valid = np.ones(5, bool)
    # class 1: overlap 2, sizes 3 + 2; class 2: overlap 1, sizes 1 + 1 → Dice 2·3 / 7
    assert disagreement_score(teacher, given, valid) == pytest.approx(1 - 6 / 7)
    assert disagreement_score(np.zeros(3), np.zeros(3), np.ones(3, bool)) == 0.0


def test_ema_teacher_moves_towards_the_student_and_stays_frozen():
    student = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        student.weight.fill_(0.0)
    teacher = EMATeacher(student, decay=0.9)
    with torch.no_grad():
        student.weight.fill_(1.0)
    teacher.update(student)
    assert teacher.model.weight.item() == pytest.approx(0.1)        # 0.9·0 + 0.1·1
    teacher.update(student)
    assert teacher.model.weight.item() == pytest.approx(0.19)
    assert not any(p.requires_grad for p in teacher.parameters())
    teacher.train()
    assert not teacher.model.training
