"""Offline instrument (issue 13, markov and flag recall): would a *volume* score find the noisy cases the teacher
gate's confident-disagreement score misses?

For each run folder given, the run's final EMA teacher (``svl_modules`` of ``checkpoint_final.pth``) segments every
preprocessed training case (the trainers' own sliding-window code), and per case:

* ``confident``: the gate's score (disagreement where the teacher is ≥ 0.9 confident; ``disagreement_score``);
* ``log_volume_ratio``: log((|given foreground| + 1) / (Σ_v p_teacher(foreground) + 1)) — the label's volume
  against the teacher's expected volume. A boundary bias that only some cases carry (over- or under-drawing) puts
  those cases on one side and the clean ones on the other, even where the teacher is unsure in the shell and the
  confident score sees nothing.

Reported per run: the case AUROC (noisy vs clean, from the dataset's ``noise_manifest.json``) of ``confident``, of
``|log_volume_ratio|`` and of its signed value, and the cases the gate's flag rule (``flag_cases``, k 3, margin 0.25)
would flag on ``confident``, on the volume score (both sides: over- and under-drawn; the over-drawn side only) and on
``confident`` or over-drawn.
The final teacher is a proxy for the rounds' teachers (flagged cases were left out of its training since their flag).

``boundary_offset`` = (|given| − Σ p) / |boundary voxels of the given label| is the same volume difference in voxels of
boundary offset (less dependent on the lesion's size); every per-case value is written to ``$VOLUME_SCORE_JSON`` when
set.

usage: python volume_score.py RAW_ROOT PREPROCESSED_ROOT RUN_FOLDER [RUN_FOLDER ...]   (RUN_FOLDER = .../fold_all)
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from nnunet_svl.diagnostics.quality import auroc
from nnunet_svl.teacher.case_flags import disagreement_score, flag_cases, teacher_confident
from nnunet_svl.trainers.case_inference import sliding_window_maps_many


def run_scores(raw_root: Path, pre_root: Path, fold_dir: Path) -> dict:
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    run_dir = fold_dir.parent
    dataset = run_dir.parent.name
    trainer, plans_name, configuration = run_dir.name.split("__")
    pm = PlansManager(run_dir / "plans.json")
    cm = pm.get_configuration(configuration)
    net = get_network_from_plans(cm.network_arch_class_name, cm.network_arch_init_kwargs,
                                 cm.network_arch_init_kwargs_req_import, 1, 2, allow_init=True,
                                 deep_supervision=False)
    ckpt = torch.load(fold_dir / "checkpoint_final.pth", map_location="cpu", weights_only=False)
    prefix = "teacher.model."
    net.load_state_dict({k[len(prefix):]: v for k, v in ckpt["svl_modules"].items() if k.startswith(prefix)})
    net.eval()
    folder = pre_root / dataset / cm.data_identifier
    cls = infer_dataset_class(str(folder))
    manifest = json.loads((raw_root / dataset / "noise_manifest.json").read_text())["cases"] \
        if (raw_root / dataset / "noise_manifest.json").is_file() else {}
    cases = sorted(cls.get_identifiers(str(folder)))
    out = {}
    for case in cases:
        data, seg, _, _ = cls(str(folder), [case]).load_case(case)
        data = np.asarray(data[:], dtype=np.float32)
        given = np.asarray(seg[:], dtype=np.int16)[0]
        probs = sliding_window_maps_many([data], cm.patch_size, lambda x: {"p": torch.softmax(net(x), 1)},
                                         torch.device("cpu"), tile_batch=4)[0]["p"]
        valid = given >= 0
        teacher_label = probs.argmax(0).astype(np.int16)
        conf = disagreement_score(teacher_label, given, valid, teacher_confident(probs, 0.9))
        fg = (given > 0) & valid
        vol_given = float(fg.sum())
        vol_teacher = float(probs[1:].sum(0)[valid].sum())
        surface = float((fg & ~ndimage.binary_erosion(fg)).sum())      # the label's boundary voxels
        out[case] = {"noisy": bool(manifest.get(case, {}).get("noisy", False)), "confident": conf,
                     "log_volume_ratio": float(np.log((vol_given + 1) / (vol_teacher + 1))),
                     "volume_given": vol_given, "volume_teacher": vol_teacher, "surface_given": surface,
                     "boundary_offset": (vol_given - vol_teacher) / max(surface, 1.0)}
    flagged = ckpt["svl_state"].get("gate_flag_counts", {})
    return {"dataset": dataset, "trainer": trainer, "cases": out, "flagged_in_run": sorted(flagged)}


def summarise(r: dict) -> str:
    cases = sorted(r["cases"])
    noisy = [r["cases"][c]["noisy"] for c in cases]
    conf = {c: r["cases"][c]["confident"] for c in cases}
    lvr = {c: r["cases"][c]["log_volume_ratio"] for c in cases}
    fmt = lambda v: "  n/a" if v is None else f"{v:.3f}"
    a_conf = auroc([conf[c] for c in cases], noisy) if any(noisy) and not all(noisy) else None
    a_abs = auroc([abs(lvr[c]) for c in cases], noisy) if any(noisy) and not all(noisy) else None
    a_sign = auroc([lvr[c] for c in cases], noisy) if any(noisy) and not all(noisy) else None
    f_conf = flag_cases(conf, k=3.0, margin=0.25)
    over = flag_cases(lvr, k=3.0, margin=0.25)
    under = flag_cases({c: -v for c, v in lvr.items()}, k=3.0, margin=0.25)
    f_vol = over | under
    truth = {c for c in cases if r["cases"][c]["noisy"]}

    def pr(f):
        return f"{len(f)} flagged, TP {len(f & truth)}, FP {len(f - truth)}"
    lines = [f"{r['dataset']} ({r['trainer']}): {len(truth)} noisy of {len(cases)}; flagged in the run: "
             f"{len(r['flagged_in_run'])}",
             f"  AUROC confident {fmt(a_conf)}, |log volume ratio| {fmt(a_abs)}, signed {fmt(a_sign)}",
             f"  flag rule on confident: {pr(f_conf)}; on the volume score, both sides: {pr(f_vol)}; over-drawn side "
             f"only: {pr(over)}; confident or over-drawn: {pr(f_conf | over)}",
             "  log volume ratio, clean: " + " ".join(f"{lvr[c]:+.2f}" for c in cases if c not in truth),
             "  log volume ratio, noisy: " + " ".join(f"{lvr[c]:+.2f}" for c in cases if c in truth)]
    return "\n".join(lines)


def main() -> None:
    torch.set_num_threads(2)
    raw_root, pre_root = Path(sys.argv[1]), Path(sys.argv[2])
    dump = os.environ.get("VOLUME_SCORE_JSON")
    runs = []
    for f in sys.argv[3:]:
        r = run_scores(raw_root, pre_root, Path(f))
        runs.append({"run": f, **r})
        print(summarise(r), flush=True)
        if dump:      # per-case values, for other statistics without re-running the teachers
            Path(dump).write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
