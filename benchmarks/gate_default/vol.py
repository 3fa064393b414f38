import sys, numpy as np, SimpleITK as sitk
from pathlib import Path
ref = Path(sys.argv[1])
for tag in sys.argv[2:]:
    d = Path("preds")/tag if (Path("preds")/tag).is_dir() else Path("/work/exp/preds")/tag
    r=[]; tp=[]; fp=[]; fn=[]
    for f in sorted(ref.glob("*.nii.gz")):
        g = sitk.GetArrayFromImage(sitk.ReadImage(str(f)))>0; p = sitk.GetArrayFromImage(sitk.ReadImage(str(d/f.name)))>0
        r.append(p.sum()/max(g.sum(),1)); tp.append((p&g).sum()); fp.append((p&~g).sum()); fn.append((~p&g).sum())
    tp,fp,fn=map(np.sum,(tp,fp,fn))
    print(f"{tag}: vol ratio {np.mean(r):.3f}  precision {tp/(tp+fp):.3f} recall {tp/(tp+fn):.3f}")
