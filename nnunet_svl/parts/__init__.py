"""Method parts: the interface between nnU-Net's trainer hooks and the algorithm modules (docs/ARCHITECTURE.md).

* :mod:`nnunet_svl.parts.base` — :class:`MethodPart` (what a method contributes: modules, loss terms for a batch,
  what a label round does for one case, checkpoint state, logged scalars), :class:`LabelSpace`, :class:`Batch`,
  :class:`CaseRound`, :class:`RoundPlan`.
* :mod:`nnunet_svl.parts.label_round` — the label-round engine: decides whether a round is due, asks every part what
  to do for each case, stages the results and commits the round to the label store (one place).
* :mod:`nnunet_svl.parts.voxels` — the valid-voxel mask and deep-supervision list handling, used everywhere.

The parts themselves live next to the algorithm modules they wire: :class:`nnunet_svl.dale.part.DalePart` and
:class:`nnunet_svl.rl.part.VA3CPart`. Nothing here imports nnU-Net.
"""
