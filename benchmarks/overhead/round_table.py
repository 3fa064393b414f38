"""Where a label round spends its time, from the same py-spy raw profile as profile_table.py: the samples under
run_label_round, attributed to the first matching category.

    python round_table.py PROFILE.txt
"""
import sys
from collections import Counter
CATS = [("teacher/student inference", ("sliding_window_maps",)),
        ("store: stage_case", ("stage_case",)), ("store: commit", ("commit_round",)),
        ("load case arrays", ("_case_arrays", "load_case")),
        ("teacher gate update_case", ("TeacherGatePart.update_case",)),
        ("dale voxel_loss", ("voxel_loss",)), ("dale update_loss_stats", ("update_loss_stats",)),
        ("dale maps", ("DalePart.maps",)), ("dale normaliser/apply_gate", ("normaliser_counts", "apply_gate")),
        ("agreement_counts", ("agreement_counts",)), ("observe/diagnostics", ("_observe_case", "observe_round_case")),
        ("finish round / quality", ("finish_round", "finish_round_quality")),]
IDLE = ("select", "poll", "wait", "sleep", "_wait_for_tstate_lock", "acquire", "recv", "accept", "epoll")
c = Counter(); tot = 0; alls = 0
for line in open(sys.argv[1]):
    stack, _, n = line.rstrip("\n").rpartition(" ")
    if not n.isdigit(): continue
    frames = stack.split(";")
    leaf = frames[-1].split(" (")[0].rsplit(".", 1)[-1]
    if any(leaf.startswith(i) or leaf.endswith(i) for i in IDLE): continue
    alls += int(n)
    names = [f.split(" (")[0].strip() for f in frames]
    if not any("run_label_round" in x for x in names): continue
    tot += int(n)
    cat = next((k for k, m in CATS if any(any(x.endswith(mm) for x in names) for mm in m)), "other")
    c[cat] += int(n)
print(f"round samples {tot} of {alls} busy ({100*tot/alls:.1f} %)")
for k, v in c.most_common(): print(f"  {k}: {100*v/tot:.1f} %")
