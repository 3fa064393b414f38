"""The command-line tools (``nnunet-svl ...``): environment check, demo and phantom data, noise protocols and
``corrupt``, evaluation and metrics, ``audit``, narrow plans, the benchmark and its report, the label-store scale
check, and the nnU-Net pipeline/workspace helpers they share. Training never imports this package."""
