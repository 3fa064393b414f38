"""The edge repair before and after the bounding box, the moved-voxel cache and the grouped least squares: the same
labels and fits? Loads two checkouts' nnunet_svl/edge/boundary.py side by side and runs ``repair_to_edge`` (3 steps,
tolerance 1) on every training case of the benchmark workspace's raw datasets whose name ends with one of the
arguments (plus the clean Dataset990).

    python benchmarks/edge_scale/same_fits.py OLD_TREE NEW_TREE RAW s0      # output: same_fits_output.txt
"""
import importlib.util, sys, glob, os, numpy as np, SimpleITK as sitk
def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path); m = importlib.util.module_from_spec(spec); sys.modules[name] = m; spec.loader.exec_module(m); return m
old = load(sys.argv[1] + '/nnunet_svl/edge/boundary.py', 'old_b'); new = load(sys.argv[2] + '/nnunet_svl/edge/boundary.py', 'new_b')
n = same = 0; worst = 0.0
for ds in [d for d in sorted(glob.glob(sys.argv[3] + '/Dataset9*')) if d.split('_')[-1] in sys.argv[4:] or 'Dataset990' in d]:
    for lab in sorted(glob.glob(ds + '/labelsTr/*.nii.gz')):
        c = os.path.basename(lab)[:-7]
        img = sitk.GetArrayFromImage(sitk.ReadImage(f'{ds}/imagesTr/{c}_0000.nii.gz'))[None].astype(np.float32)
        g = sitk.GetArrayFromImage(sitk.ReadImage(lab)).astype(np.int16)
        a, fa = old.repair_to_edge(img, g, 1.0, 3); b, fb = new.repair_to_edge(img, g, 1.0, 3)
        n += 1
        ok = np.array_equal(a, b) and len(fa) == len(fb) and all((x.offset == y.offset or (np.isnan(x.offset) and np.isnan(y.offset))) and x.reliable == y.reliable and x.core_voxels == y.core_voxels and x.reason == y.reason for x, y in zip(fa, fb))
        for x, y in zip(fa, fb):
            if x.t_value and np.isfinite(x.t_value): worst = max(worst, abs(x.t_value - y.t_value) / x.t_value, abs(x.contrast - y.contrast) / abs(x.contrast))
        same += ok
        if not ok: print('DIFF', ds, c, fa, fb)
print(f'{same} of {n} cases: same labels and fits; largest relative difference of contrast / t: {worst:.2e}')
