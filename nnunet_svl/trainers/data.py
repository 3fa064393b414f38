"""Feeding the label store into nnU-Net's data pipeline (docs/METHOD.md §1.2, §2.2).

* :class:`LabelStoreDatasetBlosc2` / :class:`LabelStoreDatasetNumpy` replace the preprocessed label of a training case
  by the label store's current (corrected) label when the store has one.
* With DALE, per-voxel weights travel with the label through nnU-Net's spatial augmentation as extra trailing channels
  of the segmentation array: ω (label confidence) and m (fuzzy membership), encoded as int16 codes
  (:func:`encode_weight_channel`). Code 0 means "no information" (padding, outside the image) and decodes to the
  channel's neutral value (ω = 1, m = 0), so padded voxels are treated exactly as nnU-Net treats them.
* :class:`WeightChannelSpatialTransform` interpolates those channels linearly (one grid_sample) instead of nnU-Net's
  per-label one-hot resampling, which is meant for label maps and would loop over every distinct weight value.

The classes are defined at module level so that nnU-Net's data-augmentation worker processes can pickle them.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from batchgeneratorsv2.transforms.spatial.spatial import SpatialTransform
from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader
from nnunetv2.training.dataloading.nnunet_dataset import nnUNetDatasetBlosc2, nnUNetDatasetNumpy

from nnunet_svl.runtime.label_store import WEIGHT_CODE_SCALE, LabelStore, encode_weight_channel

NUM_WEIGHT_CHANNELS = 2  # omega, fuzzy


def decode_weight_channel(codes: torch.Tensor, neutral: float) -> torch.Tensor:
    """Inverse of :func:`encode_weight_channel`; codes ≤ 0.5 (padding) decode to ``neutral``."""
    codes = codes.float()
    return torch.where(codes > 0.5, (codes - 1).clamp_min(0) / WEIGHT_CODE_SCALE, torch.full_like(codes, neutral))


class NeutralWeightChannels:
    """The given segmentation (nnU-Net's lazily read blosc2 / memory-mapped array, (1, *spatial)) followed by
    ``n`` weight channels of code 0 ("no information": ω = 1, m = 0), read lazily: nnU-Net's loader slices it with
    ``crop_and_pad_nd`` and only the patch is decompressed and filled (before: the whole case, for every sample)."""

    def __init__(self, seg, n: int):
        self.seg, self.n = seg, n
        self.shape = (seg.shape[0] + n, *seg.shape[1:])
        self.dtype = np.dtype(np.int16)
        self.ndim = len(self.shape)

    def __getitem__(self, index):
        index = index if isinstance(index, tuple) else (index,)
        channel, spatial = (index[0] if index else slice(None)), index[1:]
        label = np.asarray(self.seg[(slice(None), *spatial)], dtype=np.int16)
        full = np.concatenate([label, np.zeros((self.n, *label.shape[1:]), np.int16)], axis=0)
        return full[channel]

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out.astype(dtype) if dtype is not None else out


class _LabelStoreDatasetMixin:
    """Adds ``label_store`` and ``weight_channels`` to an nnU-Net dataset class; see module docstring."""

    label_store: Optional[LabelStore] = None
    weight_channels: bool = False
    keep_excluded: float = 1.0

    def attach(self, label_store: Optional[LabelStore], weight_channels: bool,
               keep_excluded: float = 1.0) -> "_LabelStoreDatasetMixin":
        self.label_store = label_store
        self.weight_channels = weight_channels
        self.keep_excluded = keep_excluded
        return self

    def label_store_has(self, identifier: str) -> bool:
        return self.label_store is not None and self.label_store.has(identifier)

    def serve_instead(self, identifier: str) -> str:
        """The case to serve for ``identifier``: itself, or — when the label store excludes it (the teacher gate's
        flags, config ``flagged_case_sampling``) and the draw says so — a random case that is not excluded. No random
        number is drawn while nothing is excluded, so an unflagged run samples exactly as nnU-Net does."""
        if self.label_store is None or self.keep_excluded >= 1:
            return identifier
        excluded = self.label_store.excluded_cases()
        if identifier not in excluded or (self.keep_excluded > 0 and np.random.random() < self.keep_excluded):
            return identifier
        allowed = [c for c in self.identifiers if c not in excluded]
        return allowed[np.random.randint(len(allowed))] if allowed else identifier

    def load_case(self, identifier):
        """nnU-Net's case with the label in force (and DALE's weight channels). The store's blosc2 entry, or the given
        segmentation followed by neutral weight channels, is returned unread: nnU-Net's loader crops it and only the
        patch is decompressed. The older npz store layout and the cascade (``seg_prev``) take the eager path."""
        data, seg, seg_prev, properties = super().load_case(identifier)
        if self.label_store is None and not self.weight_channels:
            return data, seg, seg_prev, properties
        wanted = ["label", "omega", "fuzzy"] if self.weight_channels else ["label"]
        if seg_prev is None:
            opened = self.label_store.open_case(identifier) if self.label_store is not None else None
            if opened is not None and opened[1] == wanted:
                return data, opened[0], None, properties
            if opened is None and not self.label_store_has(identifier):
                if not self.weight_channels:
                    return data, seg, None, properties
                return data, NeutralWeightChannels(seg, NUM_WEIGHT_CHANNELS), None, properties
        stored = self.label_store.load(identifier) if self.label_store is not None else None
        if stored is None and not self.weight_channels:
            return data, seg, seg_prev, properties
        label = stored.label if stored is not None else np.asarray(seg[:])
        channels = [np.asarray(label, dtype=np.int16)]
        if seg_prev is not None:
            # nnU-Net's cascade transforms expect the previous stage's segmentation in channel 1
            channels.append(np.asarray(seg_prev[:], dtype=np.int16)[None])
            seg_prev = None
        if self.weight_channels:
            shape = channels[0].shape
            for arr in ((stored.omega, stored.fuzzy) if stored is not None else (None, None)):
                channels.append(encode_weight_channel(arr) if arr is not None else np.zeros(shape, np.int16))
        return data, np.concatenate(channels, axis=0), seg_prev, properties


class LabelStoreDatasetBlosc2(_LabelStoreDatasetMixin, nnUNetDatasetBlosc2):
    pass


class LabelStoreDatasetNumpy(_LabelStoreDatasetMixin, nnUNetDatasetNumpy):
    pass


class StoreAwareDataLoader(nnUNetDataLoader):
    """nnU-Net's training data loader, but the teacher gate's thinning (``serve_instead``) swaps a drawn flagged case
    for an unflagged one at the draw, so ``batch['keys']`` names the cases actually served: a batch whose flagged case
    was swapped out trains with nnU-Net's loss and runs no rollout. (Swapping inside ``load_case``, as before, left the
    drawn id in the keys: ~56 % instead of ~31 % of the batches were treated as flagged with 8 of 24 cases flagged;
    BENCHMARKS.md, overhead.) No random number is drawn while nothing is excluded."""

    def get_indices(self):
        keys = super().get_indices()
        swap = getattr(self._data, "serve_instead", None)
        return [swap(k) for k in keys] if swap is not None else keys


STORE_DATASET_FOR = {nnUNetDatasetBlosc2: LabelStoreDatasetBlosc2, nnUNetDatasetNumpy: LabelStoreDatasetNumpy}


class WeightChannelSpatialTransform(SpatialTransform):
    """nnU-Net's SpatialTransform, but the last ``num_weight_channels`` segmentation channels are continuous
    weights: resampled linearly with zero padding (code 0 = neutral), not as label maps."""

    num_weight_channels: int = NUM_WEIGHT_CHANNELS

    @classmethod
    def from_spatial_transform(cls, t: SpatialTransform, num_weight_channels: int) -> "WeightChannelSpatialTransform":
        new = cls.__new__(cls)
        new.__dict__.update(t.__dict__)
        new.num_weight_channels = num_weight_channels
        return new

    def get_parameters(self, **data_dict) -> dict:
        """nnU-Net's parameters plus how many leading-axis rows are weights. With dummy-2D augmentation (anisotropic
        spacing) ``Convert3DTo2DTransform`` has folded the channel axis into the first spatial axis, channel-major:
        the weight channels are then the last ``num_weight_channels × X`` rows, not the last two."""
        params = super().get_parameters(**data_dict)
        seg, channels = data_dict.get("segmentation"), data_dict.get("nchannels_seg")
        rows_per_channel = seg.shape[0] // int(channels) if seg is not None and channels else 1
        params["weight_rows"] = self.num_weight_channels * rows_per_channel
        return params

    def _apply_to_segmentation(self, segmentation: torch.Tensor, **params) -> torch.Tensor:
        n = params.get("weight_rows", self.num_weight_channels)
        labels = super()._apply_to_segmentation(segmentation[:-n], **params)
        weights = self._apply_to_regr_target(segmentation[-n:].float(), **params)
        return torch.cat((labels, torch.round(weights).to(labels.dtype)), dim=0)
