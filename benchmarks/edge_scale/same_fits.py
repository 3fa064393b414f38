"""The edge repair before and after the bounding box, the moved-voxel cache and the grouped least squares: the same
labels and fits? Loads two checkouts' nnunet_svl/edge/boundary.py side by side and runs ``repair_to_edge`` (3 steps,
tolerance 1) on every training case of the benchmark workspace's raw datasets whose name ends with one of the
arguments (plus the clean Dataset990).

    python benchmarks/edge_scale/same_fits.py OLD_TREE NEW_TREE RAW s0      # output: same_fits_output.txt
"""
import glob
import importlib.util
import os
import sys

import numpy as np
import SimpleITK as sitk


def load(path, name):
    """The module at ``path`` imported under ``name`` (two versions of one module side by side)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def same_fit(x, y) -> bool:
    same_offset = x.offset == y.offset or (np.isnan(x.offset) and np.isnan(y.offset))
    return same_offset and x.reliable == y.reliable and x.core_voxels == y.core_voxels and x.reason == y.reason


def main(old_tree, new_tree, raw, suffixes):
    old = load(f"{old_tree}/nnunet_svl/edge/boundary.py", "old_boundary")
    new = load(f"{new_tree}/nnunet_svl/edge/boundary.py", "new_boundary")
    n = same = 0
    worst = 0.0
    datasets = [d for d in sorted(glob.glob(f"{raw}/Dataset9*")) if d.split("_")[-1] in suffixes or "Dataset990" in d]
    for ds in datasets:
        for path in sorted(glob.glob(f"{ds}/labelsTr/*.nii.gz")):
            case = os.path.basename(path)[:-7]
            image = sitk.GetArrayFromImage(sitk.ReadImage(f"{ds}/imagesTr/{case}_0000.nii.gz"))[None]
            image = image.astype(np.float32)
            given = sitk.GetArrayFromImage(sitk.ReadImage(path)).astype(np.int16)
            a, fits_a = old.repair_to_edge(image, given, 1.0, 3)
            b, fits_b = new.repair_to_edge(image, given, 1.0, 3)
            n += 1
            ok = np.array_equal(a, b) and len(fits_a) == len(fits_b) and all(map(same_fit, fits_a, fits_b))
            for x, y in zip(fits_a, fits_b):
                if x.t_value and np.isfinite(x.t_value):
                    worst = max(worst, abs(x.t_value - y.t_value) / x.t_value,
                                abs(x.contrast - y.contrast) / abs(x.contrast))
            same += ok
            if not ok:
                print("DIFF", ds, case, fits_a, fits_b)
    print(f"{same} of {n} cases: same labels and fits; largest relative difference of contrast / t: {worst:.2e}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
