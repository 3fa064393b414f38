"""Mapping arrays from nnU-Net's preprocessed geometry back to the original image geometry.

The inverse of nnU-Net's preprocessing, done the way nnU-Net exports predictions
(``nnunetv2.inference.export_prediction``): resample to the cropped shape with the configuration's resampling
functions, put the crop back into the full image, undo the axis transpose. The result is written with the dataset's
own reader/writer and ``properties['sitk_stuff']``, so spacing, origin and direction are the original ones.

Corrected labels are exported as *changes applied to the given label*: voxels whose preprocessed label did not change
keep their original value bit for bit, so a correction that changed nothing maps back to the original label exactly,
whatever resampling preprocessing did.
"""
from __future__ import annotations

import numpy as np
from acvl_utils.cropping_and_padding.bounding_boxes import insert_crop_into_image


def _current_spacing(properties: dict, plans_manager, configuration_manager) -> list[float]:
    spacing_transposed = [properties["spacing"][i] for i in plans_manager.transpose_forward]
    if len(configuration_manager.spacing) == len(properties["shape_after_cropping_and_before_resampling"]):
        return list(configuration_manager.spacing)
    return [spacing_transposed[0], *configuration_manager.spacing]


def to_original_geometry(array: np.ndarray, properties: dict, plans_manager, configuration_manager,
                         is_seg: bool) -> np.ndarray:
    """(C, *preprocessed spatial) → (C, *original spatial). Labels (``is_seg``) stay labels; maps are interpolated."""
    array = np.asarray(array)
    target_shape = tuple(properties["shape_after_cropping_and_before_resampling"])
    original_spacing = [properties["spacing"][i] for i in plans_manager.transpose_forward]
    if tuple(array.shape[1:]) != target_shape:
        fn = configuration_manager.resampling_fn_seg if is_seg else configuration_manager.resampling_fn_probabilities
        array = np.asarray(fn(array.astype(np.float32) if not is_seg else array, target_shape,
                              _current_spacing(properties, plans_manager, configuration_manager), original_spacing))
    out = np.zeros((array.shape[0], *properties["shape_before_cropping"]), dtype=array.dtype)
    for c in range(array.shape[0]):
        out[c] = insert_crop_into_image(out[c], array[c], properties["bbox_used_for_cropping"])
    return out.transpose([0] + [i + 1 for i in plans_manager.transpose_backward])


def corrected_label_in_original_geometry(corrected_pp: np.ndarray, given_pp: np.ndarray, original_label: np.ndarray,
                                         properties: dict, plans_manager, configuration_manager) -> np.ndarray:
    """The original label with the preprocessed-geometry corrections applied (see module docstring).

    ``corrected_pp`` / ``given_pp``: (1, *pp) int labels; ``original_label``: the given label as read from disk, in the
    original array layout (spatial axes as nnU-Net's reader returns them, without channel axis).
    """
    corrected_pp = np.asarray(corrected_pp)
    given_pp = np.asarray(given_pp)
    changed = (corrected_pp != given_pp) & (given_pp >= 0)
    if not changed.any():
        return np.array(original_label, copy=True)
    back_label = to_original_geometry(np.where(corrected_pp < 0, 0, corrected_pp).astype(np.int16), properties,
                                      plans_manager, configuration_manager, is_seg=True)[0]
    back_changed = to_original_geometry(changed.astype(np.float32), properties, plans_manager,
                                        configuration_manager, is_seg=False)[0] > 0.5
    return np.where(back_changed, back_label, original_label).astype(original_label.dtype)
