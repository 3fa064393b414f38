"""Diagnostics against known clean labels (benchmarks only; never a training decision): correction quality per label
round, AUROC of confidence scores, memorisation curves. Plain numpy; the trainer side is
``nnunet_svl/trainers/diagnostics.py``."""
