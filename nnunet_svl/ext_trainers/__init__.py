"""Folder named by ``nnUNet_extTrainer``: it holds only a small module re-exporting the trainer classes.

nnU-Net imports the modules of this folder by file and drops them from ``sys.modules`` afterwards, so the classes are
defined in ``nnunet_svl.trainers`` (importable normally, picklable for worker processes) and only re-exported here.
"""
