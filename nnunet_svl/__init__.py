"""nnunet_svl: nnU-Net v2 trainers robust to noisy annotations (SVL-DRL and DALE)."""

__version__ = "0.1.0"
