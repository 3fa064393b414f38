"""The teacher and the per-case noise gate (docs/METHOD.md §5 "per-case noise first, voxels second", "a teacher decides")
[ours]: an EMA copy of the segmentation network (:mod:`.ema`), robust per-case flags from the teacher's disagreement
with the given labels (:mod:`.case_flags`), and the method part that wires them into label rounds (:mod:`.part`)."""
