"""Table of the GPU timing run (gpu_results.json -> gpu_summary.json + printed table). Ratios against nnUNetTrainer
of the same plans; 'step' = epoch seconds minus the label round's own seconds (round_seconds the trainer logs)."""
import json, sys
d = json.load(open(sys.argv[1] if len(sys.argv) > 1 else "gpu_results.json"))
out = {}
for plans in ("nnUNetPlans", "nnUNetPlans_narrow"):
    rows = {}
    for tr in ("nnUNetTrainer", "nnUNetTrainerSVLDRL", "nnUNetTrainerDALE"):
        r = d.get(f"{plans}__{tr}")
        if not r or not r["epochs"]:
            continue
        ep = r["epochs"]
        s = [e["seconds"] for e in ep]
        rs = [e.get("round_seconds") or 0.0 for e in ep]
        st = [a - b for a, b in zip(s, rs)]
        m = lambda xs: sum(xs) / len(xs) if xs else None
        rows[tr] = dict(status=r["status"], epochs_done=len(ep), epochs_planned=r["epochs_planned"],
                        iterations_per_epoch=r["iterations_per_epoch"], val_iterations=r["val_iterations_per_epoch"],
                        patch_size=r["patch_size"], batch_size=r["batch_size"],
                        features_per_stage=r["features_per_stage"],
                        mean_epoch_s=m(s), mean_epoch_s_excl_first=m(s[1:]),
                        mean_step_s=m(st), mean_step_s_excl_first=m(st[1:]),
                        label_rounds=sum(1 for e in ep if e.get("round_seconds") is not None),
                        mean_round_s=m([e["round_seconds"] for e in ep if e.get("round_seconds") is not None]),
                        wall_per_epoch_s=(ep[-1]["end"] - ep[0]["start"]) / len(ep),
                        on_train_start_s=r.get("on_train_start_s"),
                        peak_alloc_MiB=r.get("peak_alloc_MiB"), peak_reserved_MiB=r.get("peak_reserved_MiB"))
    base = rows.get("nnUNetTrainer")
    for tr, row in rows.items():
        for k in ("mean_epoch_s", "mean_epoch_s_excl_first", "mean_step_s", "mean_step_s_excl_first",
                  "wall_per_epoch_s", "peak_alloc_MiB", "peak_reserved_MiB"):
            row[k + "_ratio"] = row[k] / base[k] if base and row.get(k) and base.get(k) else None
    out[plans] = rows
json.dump(out, open("gpu_summary.json", "w"), indent=1)
f = lambda v, n=2: "-" if v is None else f"{v:.{n}f}"
for plans, rows in out.items():
    print(plans)
    for tr, r in rows.items():
        print(f"  {tr:20s} {r['epochs_done']}/{r['epochs_planned']}x{r['iterations_per_epoch']} "
              f"mean {f(r['mean_epoch_s'])} ({f(r['mean_epoch_s_ratio'])}x) excl1 {f(r['mean_epoch_s_excl_first'])} "
              f"({f(r['mean_epoch_s_excl_first_ratio'])}x) step {f(r['mean_step_s'])} ({f(r['mean_step_s_ratio'])}x) "
              f"step-excl1 {f(r['mean_step_s_excl_first'])} ({f(r['mean_step_s_excl_first_ratio'])}x) "
              f"rounds {r['label_rounds']} x {f(r['mean_round_s'],1)} s wall/ep {f(r['wall_per_epoch_s'])} "
              f"peak {f(r['peak_alloc_MiB'],0)} MiB ({f(r['peak_alloc_MiB_ratio'])}x) "
              f"reserved {f(r['peak_reserved_MiB'],0)} ({f(r['peak_reserved_MiB_ratio'])}x)")
