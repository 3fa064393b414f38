"""Re-exports every nnunet_svl trainer for nnU-Net's ``-tr`` lookup (see ``nnunet_svl.trainers.registry``)."""
from nnunet_svl.trainers.registry import TRAINERS

globals().update(TRAINERS)
__all__ = sorted(TRAINERS)
