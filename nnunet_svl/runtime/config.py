"""One typed config object for every hyper-parameter of the plugin (docs/METHOD.md §3).

Trainer variants override fields with :func:`dataclasses.replace` on their class attribute ``svl_config`` (the
nnU-Net way: one subclass per variant). For experiments, a JSON file named by the environment variable
``NNUNET_SVL_CONFIG`` overrides fields on top of the trainer's values. The values in force are written to the
training log and stored in every checkpoint.

Stage boundaries (``warmup_end``, ``transition_end``, ``dale_warmup_end``) accept a fraction of the run
(``0 <= x < 1``, multiplied by ``num_epochs``) or an epoch number (``x >= 1``); see :func:`epoch_boundary`.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal, Optional

from nnunet_svl.runtime.errors import SVLInputError
from nnunet_svl.runtime.jsonio import read_json

CONFIG_ENV_VAR = "NNUNET_SVL_CONFIG"


@dataclass(frozen=True)
class SVLConfig:
    # --- which method pieces are active (set by the trainer class, docs/METHOD.md §3) ---
    use_rl: bool = False
    """SVL-DRL: vA3C head, staged loss and reward-driven label correction (METHOD §1)."""
    use_dale: bool = False
    """DALE: label-confidence reweighting, fuzzy partition and alignment (METHOD §2)."""

    # --- SVL-DRL staged schedule (METHOD §1.1 "Three stages") ---
    warmup_end: float = 0.05
    """End of warm-up (segmentation loss only). Fraction of the run if < 1, else an epoch number. Under the teacher
    gate the head learns from detached features, so the stages only time the head's training and the first flips:
    they follow the gate's early start [ours]; the ``_Paper`` ablations keep 0.2 / 0.35."""
    transition_end: float = 0.1
    """End of the transition stage (value loss switched on); full RL (and corrections) afterwards."""
    lambda_value_transition: float = 0.1
    """λ in L = (1-λ)·L_seg + λ·L_value during transition."""
    alpha_value: float = 0.1
    """α in L = (1-α-β)·L_seg + α·L_value + β·L_policy during full RL."""
    beta_policy: float = 0.05
    """β (policy-gradient weight) during full RL."""

    # --- vA3C agents (METHOD §1.1 pixelRL defaults, §1.2 state modes) ---
    state_mode: Literal["belief", "intensity"] = "belief"
    t_max: int = 5
    gamma: float = 0.95
    entropy_weight: float = 0.01
    action_scale: float = 0.3
    """The 0.3 in s·(1 ± 0.3ε)."""
    head_hidden: int = 16
    reward_map_conv: bool = False
    rl_loss_mixing: Literal["paper", "additive"] = "additive"
    """``paper``: (1−λ)·L_seg + λ·L_value, (1−α−β)·L_seg + α·L_value + β·L_policy (the segmentation loss is scaled
    down); ``additive`` [ours, no harm]: L_seg + λ·L_value and L_seg + α·L_value + β·L_policy (with detached head
    features the network's gradient is exactly nnU-Net's)."""
    rl_features_grad: bool = False
    """Let the RL losses reach the segmentation network through the decoder features (the paper's shared encoder;
    ablation ``_Paper``). Off by default [ours, no harm]: the head learns from detached features."""

    # --- composite reward (METHOD §1.1, §1.2) ---
    lambda_continuity: float = 0.1
    """λ_C: weight of the spatial-continuity penalty (components + TV)."""
    reward_local_weight: float = 1.0
    reward_dice_weight: float = 1.0

    # --- iterated label correction (METHOD §1.2 "Dynamic iterative label update") ---
    correction_every: float = 0.1
    """K: a label round (correction, statistics, the teacher gate's flags) every K epochs; a fraction (< 1) of the run
    is rounded up to whole epochs (:func:`epoch_period`) [ours]: 0.1 gives every 2 epochs in the 20-epoch CPU
    benchmark and every 100 epochs in nnU-Net's default 1000-epoch run, so a run has about 10 rounds whatever its
    length and their share of the training time does not grow with it (the papers' every-2-epochs would be 500
    rounds there; BENCHMARKS.md, overhead)."""
    correction_tau: float = 0.8
    """τ: minimum refined probability of the proposed label for a voxel to flip."""
    correction_omega_gate: float = 1.0
    """With DALE on: only voxels whose label confidence ω is below this may be corrected."""
    correction_connectivity: int = 26
    correction_support: float = 0.5
    """The segmentation network's own probability of the proposed label must be at least this (0 = off)."""
    correction_band: float = 8.0
    """Only voxels within this many voxels of the current label's boundary may flip (0 = anywhere)."""
    correction_enabled: bool = True
    """[ours] False: vA3C trains with its staged losses but never changes a label (decomposition ablation
    ``_NoCorrection``)."""
    oracle_gate: Literal["none", "case", "voxel", "flags"] = "none"
    """ORACLE, benchmark only (reads the clean labels named by NNUNET_SVL_CLEAN_LABELS): ``case`` keeps corrections
    only in cases whose given label differs from the clean one; ``voxel`` keeps only flips to the clean label (with
    the teacher gate: only its flips that match the clean label); ``flags`` (teacher gate) flags exactly the cases
    whose given label differs from the clean one, when the gate would decide its flags (perfect flag precision and
    recall). Bounds what a gate could give; never a default."""
    case_gate: bool = True
    """[ours, METHOD §5] The teacher gate: an EMA teacher scores every case's disagreement with its given label, only
    cases flagged as outliers are touched (disputed voxels weight 0 with DALE, confident teacher flips with vA3C),
    labels are recomputed from the given label every round, unflagged cases train exactly as with nnU-Net."""
    teacher_ema: float = 0.99
    """EMA decay of the teacher's weights per training iteration."""
    gate_start: float = 0.05
    """Flags are decided from this point of the run on (fraction or epoch, as the stage boundaries). Early is safe:
    flags need a case to stand out against the lower half of all cases, which an immature teacher does not produce
    (on the CPU preset the teacher, with its warm-up, flagged the same 9 noisy cases after 50 iterations as after
    300; BENCHMARKS.md)."""
    case_flag_k: float = 3.0
    """A case is flagged when its score exceeds the lower half's median + max(k·1.4826·MAD, margin)
    (teacher/case_flags.py)."""
    case_flag_margin: float = 0.25
    """... and that median + this margin (in 1 − Dice): a flagged case disagrees clearly more than a typical one.
    (0.1 flagged 4–5 of 24 *clean* phantoms, the hardest ones, scores up to 0.41 against a median of 0.2; the noisy
    cases the gate must find scored 0.57–1.0. BENCHMARKS.md, teacher gate, seed 0 only.)"""
    case_flag_confidence: float = 0.9
    """[ours] A voxel where the teacher disagrees with the given label counts toward the case's score only where the
    teacher's probability of its own label is at least this (0.5 = every disagreement, the argmax score; ablation
    ``_ArgmaxFlags``). With every label over-drawn by varying amounts the teacher's boundary band is wide and
    unconfident, and argmax disagreement flagged the *least* over-drawn cases (teacher/case_flags.py)."""
    case_flag_volume_margin: float = 0.0
    """[ours] > 0: a case is also flagged when its label's boundary lies this many voxels further outside the teacher's
    expected boundary than the median of the lower half of the cases not flagged otherwise
    (``teacher.case_flags.flag_over_drawn``): over-drawn labels that the confident score misses because the teacher is
    unsure in their shell. 0 = off (the default); ablation ``_VolumeFlags`` 2.5 (offline on the final teachers: no
    clean case of the 3 clean runs above 1.9, BENCHMARKS.md, the volume score)."""
    case_flag_edge_absent: bool = True
    """[ours] With ``edge_repair``, a case is also flagged when the edge fit finds no intensity step at its label's
    boundary that stands out of the noise while most cases' labels have one (``teacher.case_flags.flag_edge_absent``):
    the label's boundary lies inside the structure, an under-drawn label, which the repair cannot move and whose
    confident score stays below the margin when the erosion is thin. On by default since 2026-12-02 (BENCHMARKS.md,
    seventh session); ablation ``_NoEdgeFlags`` turns it off."""
    case_flag_edge_veto: bool = True
    """[ours] With ``edge_repair``, the confident score does not flag a case whose label the image confirms: a
    trusted edge fit within ``edge_tolerance`` of the label and a step's t within 0.5–1.5 × the median of such
    labels' (``teacher.case_flags.image_confirmed``: a label past its edge shows the whole step). On clean labels the
    hardest case's score reached the margin; on by default since 2026-12-02 (BENCHMARKS.md, seventh session);
    ablation ``_NoEdgeVeto`` turns it off."""
    edge_repair: bool = True
    """[ours] Before training, move each case's label boundary in to the image's intensity edge where the label lies
    more than ``edge_tolerance`` voxels outside it (``nnunet_svl.edge``): evidence the labels do not carry, for a bias
    every label shares. One foreground class only (other layouts: off, with a line in the log). On by default since
    2026-12-01 (BENCHMARKS.md: no clean label moved; over-drawn labels repaired); ablation ``_NoEdgeRepair`` turns
    it off; the papers' literal design (``_Paper``) does not have it."""
    edge_tolerance: float = 1.0
    """Voxels the label may lie outside the fitted edge before it is moved: within a voxel of the edge the annotator's
    line stands. The clean phantoms' labels reach +0.05 on the raw images and +0.45 in nnU-Net's preprocessed
    geometry (where the trainer fits, distances in units of the finest spacing); 0.5 left too little room."""
    edge_repair_steps: int = 3
    """[ours] Fit-and-move steps per case (``nnunet_svl.edge.boundary.repair_to_edge``): a moved label is fitted again
    and moved again while it still lies more than ``edge_tolerance`` outside the edge. A label the first fit leaves
    alone is never re-fitted, so clean labels are untouched as with one step. 3 by default since 2026-12-01 (fifth
    session; BENCHMARKS.md, "Refit steps"); ``_EdgeRepair`` pins the one step of the fourth session's default."""
    edge_step_ratio: float = 2.0
    """[ours] A label is judged over-drawn (and moved) only where its first fit's step t is at least this times the
    median t of the dataset's labels that lie on their edge (``edge.boundary.on_edge_step_reference``: at least 4
    and half of the trusted fits; with fewer the offset alone decides). A label past its edge shows the whole step,
    about twice an on-edge label's t; where the lesion's edge is faint a clean label's fit can land a voxel or more
    inside it with an on-edge label's step (phantoms at 0.75–1.0 noise sd of lesion contrast: clean candidates
    0.6–1.7 ×, over-drawn labels ≥ 2.4 ×). Default since 2026-12-03 (BENCHMARKS.md, "The edge repair at a fainter
    lesion contrast"); 0 = the offset alone (ablation ``_EdgeAnyStep``, the default before)."""
    edge_offset_z: float = 0.0
    """[ours] Standard errors by which the first edge fit's offset must exceed ``edge_tolerance`` before a label is
    moved (``EdgeFit.moves``; the error is the jackknife over the label's octants, ``edge.boundary.
    offset_standard_error``). 0 = not required (the default). Ablation ``_EdgePrecise`` 1.0, measured and not
    adopted: offline it kept the clean labels of one faint phantom draw in place but not of two others (the step rule
    kept all three), and in training it traded dilate ρ 1.0 (+2.32 over the default, 3 seeds) against markov ρ 1.0
    (−2.09) (BENCHMARKS.md, "The edge repair at a fainter lesion contrast")."""
    edge_window: float = 8.0
    """How deep inside the label the edge is searched, voxels."""
    edge_sigma: float = 1.5
    """Width (voxels) of the blurred step fitted across the boundary (partial volume and the scanner's blur)."""
    case_flag_persist: int = 1
    """A case counts as flagged once it was an outlier in this many rounds."""
    teacher_flip_confidence: float = 0.9
    """vA3C flips a disputed voxel of a flagged case only where the teacher's probability of its label is at least
    this (and the agents' refined belief agrees); other disputed voxels get weight 0."""
    flagged_case_sampling: float = 0.0
    """[ours] How often a flagged case still enters a batch: when the data loader draws a flagged case, it keeps it
    with this probability and otherwise serves an unflagged case in its place (1 = flagged cases are drawn as often as
    any; 0 = excluded from training while flagged). 0 since 2026-11-30: over 5 seeds of mt and dilate (ρ 0.5) on the
    CPU preset, excluding flagged cases beat drawing them half as often with their repaired labels and DALE's weights
    (ablation ``_SampleFlagged``) on both protocols, at a no-harm cost within the target on clean labels; the
    repaired labels (Dice 0.5-0.9 against the clean ones) teach less than no label (BENCHMARKS.md). With 0 the flagged
    cases' flips and DALE's weights no longer reach the network and the vA3C head never trains: the label store's
    corrections are the teacher's confident flips and serve ``nnunet-svl audit``."""
    teacher_trust_confidence: float = 0.0
    """[ours] In a flagged case, a voxel whose given label the teacher confirms with a probability below this gets
    weight 0 too (with DALE), not only the disputed ones: a flagged case teaches only where the teacher confidently
    agrees with its label, or through a flip. 0 = only disputed voxels are dropped."""
    label_qa: str = ""
    """[ours, two-pass, METHOD §7] A ``nnunet-svl label-qa`` output folder (its ``summary.json``), or ``auto``: the one
    ``label_qa`` folder under ``$nnUNet_results/<dataset>/``. The cases it flagged from nnU-Net's held-out 5-fold
    predictions are flagged by the teacher gate from the first iteration (drawn with ``flagged_case_sampling``;
    disputed voxels and flips follow from the first label round); the teacher's own flags are added to them.
    Empty: off."""
    label_qa_withdraw_repaired: bool = True
    """[ours, two-pass] A ``label_qa`` flag is withdrawn when the edge repair moved the case's label before training
    (``edge_repair``): label-qa judged the annotation, the trainer replaced it, and the teacher gate still judges the
    repaired label every round. Since 2026-12-03: on mt ρ 0.5 seed 0 the three prior flags of labels the repair moved
    cost 2.86 points on two training trajectories and the other six flags from iteration 0 cost nothing (+0.32);
    on dilate ρ 1.0 every prior flag was a moved label (−3.05) (BENCHMARKS.md, fourteenth session). False: every
    label-qa flag stands (ablation ``_LabelQAAll``, the two-pass trainer before)."""
    label_qa_withdraw_only_reached: bool = False
    """[ours, two-pass] With ``label_qa_withdraw_repaired``: withdraw a flag only where the repair reached the image's
    edge (:meth:`nnunet_svl.edge.part.EdgeRepairPart.reached_edge`: the fit after the last move within
    ``edge_tolerance``); a label still beyond the edge when ``edge_repair_steps`` ran out keeps its flag, as a label
    the image does not confirm. Ablation ``_LabelQAReached`` (fifteenth session: on mt ρ 0.5 seed 2 withdrawing every
    moved label's flag cost 5.5 points, and the two labels there whose repair did not reach the edge are the worst
    repaired, BENCHMARKS.md)."""
    correction_max_rounds: int = 0
    """0 = unlimited."""
    round_tile_batch: int = 4
    """[ours, overhead] Patches per network call in a label round's whole-case inference: the tiles of a large case,
    or several small cases (up to this many patch volumes) at once. Results equal one tile per call up to float
    rounding. On 2 CPU cores the benchmark's narrow network took about 3× longer per 40³ patch one at a time than four
    at a time (0.225 s against 0.079 s; BENCHMARKS.md, overhead). 1 = one tile per call."""
    correction_min_agreement: float = 0.3
    """[ours] A correction round flips labels only when, in the previous label round, the network's prediction agreed
    with the labels in force at least this much (foreground Dice summed over the training cases); otherwise the round
    only measures (and updates DALE's statistics). A network that predicts no lesion yet would otherwise "support"
    removing lesion voxels; seen on the 32³ test phantoms (0 = off)."""

    # --- DALE (METHOD §2.2) ---
    dale_warmup_end: float = 0.2
    """Fuzzy voxels enter the loss (with ω) after this point; non-fuzzy voxels train at full weight from the start."""
    dale_eta: float = 1.0
    """η: inverse temperature of ω* = N·softmax(-η (loss mean + κ·loss std))."""
    dale_kappa: float = 1.0
    """κ: weight of loss inconsistency (std across rounds) against loss level."""
    omega_normalisation: Literal["case", "class_across_cases"] = "case"
    """How ω's softmax is normalised per label class: within each case (mean 1 per case, the design so far) or across
    all training cases (the previous round's mean; ablation ``_OmegaAcrossCases``)."""
    omega_max: float = 3.0
    """Upper clip of ω (ω is rescaled to mean 1 before clipping)."""
    fuzzy_entropy_threshold: float = 0.5
    fuzzy_temperature: float = 0.1
    fuzzy_sigma: float = 2.0
    """σ (voxels) of the boundary-proximity term exp(-d²/2σ²)."""
    class_balance_max_gain: float = 10.0
    """[ours] Per patch and label class, voxel weights are rescaled so the class keeps its total weight (voxel count);
    the partition and ω decide which voxels of a class teach, not how much the class teaches. A class's gain is capped
    at this; 0 turns the rescaling off (see dale/weighted_loss.py:class_balanced_weights)."""
    alignment_weight: float = 0.01
    """γ: weight of the class-conditional 2-Wasserstein alignment loss. (0.05 let the alignment term, 4-6 on
    standardised features, outweigh the segmentation loss ten to one in a 300-iteration run that then never learned
    the lesion.)"""
    alignment_min_weight: float = 8.0

    # --- misc ---
    seed: int = 12345
    progress_plot_interval_s: float = 300.0
    """progress_svl.png is redrawn at the end of an epoch when this many seconds have passed since it was last drawn,
    and always after the first and the last epoch (drawing ~20 panels costs ~1.5–2.2 s; at 20 s it was 6 % of a CPU
    benchmark run's wall time, py-spy; at 60 s still ~3 %, cProfile of DALE on nnU-Net's default network, BENCHMARKS.md
    fifteenth session; at 300 s under 1 %). 0 = every epoch."""

    # ------------------------------------------------------------------------------------------------------------
    def validate(self, source: str = "SVLConfig") -> "SVLConfig":
        """Raise :class:`SVLInputError` naming ``source`` for out-of-range values."""

        def bad(name: str, why: str) -> None:
            raise SVLInputError(source, f"config key '{name}'={getattr(self, name)!r} {why}",
                                f"give '{name}' a value that meets this, or leave it out to keep the trainer's value")

        for name in ("warmup_end", "transition_end", "dale_warmup_end"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                bad(name, "must be a fraction in [0, 1) or an epoch number >= 1")
        for name in ("lambda_value_transition", "alpha_value", "beta_policy"):
            if not 0 <= getattr(self, name) <= 1:
                bad(name, "must be in [0, 1]")
        if self.alpha_value + self.beta_policy > 1:
            bad("alpha_value", "plus beta_policy must not exceed 1")
        if self.state_mode not in ("belief", "intensity"):
            bad("state_mode", "must be 'belief' or 'intensity'")
        if not 0 <= self.teacher_ema < 1:
            bad("teacher_ema", "must be in [0, 1)")
        if not 0 <= self.flagged_case_sampling <= 1:
            bad("flagged_case_sampling", "must be in [0, 1]")
        if not 0 <= self.teacher_trust_confidence <= 1:
            bad("teacher_trust_confidence", "must be in [0, 1]")
        if not 0.5 <= self.teacher_flip_confidence <= 1:
            bad("teacher_flip_confidence", "must be in [0.5, 1]")
        if not 0.5 <= self.case_flag_confidence <= 1:
            bad("case_flag_confidence", "must be in [0.5, 1]")
        if self.case_flag_persist < 1:
            bad("case_flag_persist", "must be >= 1")
        if not (math.isfinite(self.edge_tolerance) and self.edge_tolerance >= 0 and math.isfinite(self.edge_window)
                and self.edge_window > 2 and math.isfinite(self.edge_sigma) and self.edge_sigma > 0):
            bad("edge_tolerance", "edge_tolerance >= 0, edge_window > 2 and edge_sigma > 0 are required")
        if not (math.isfinite(self.edge_step_ratio) and self.edge_step_ratio >= 0):
            bad("edge_step_ratio", "must be >= 0 (0 = the offset alone decides)")
        if not (math.isfinite(self.edge_offset_z) and self.edge_offset_z >= 0):
            bad("edge_offset_z", "must be >= 0 (0 = the offset alone decides)")
        if int(self.edge_repair_steps) != self.edge_repair_steps or self.edge_repair_steps < 1:
            bad("edge_repair_steps", "a positive integer is required")
        if not (math.isfinite(self.case_flag_volume_margin) and self.case_flag_volume_margin >= 0):
            bad("case_flag_volume_margin", "must be >= 0 (0 = off)")
        if not (math.isfinite(self.case_flag_k) and self.case_flag_k >= 0 and 0 <= self.case_flag_margin <= 1
                and math.isfinite(self.gate_start) and self.gate_start >= 0):
            bad("case_flag_k", "case_flag_k >= 0, case_flag_margin in [0, 1] and gate_start >= 0 are required")
        if self.rl_loss_mixing not in ("paper", "additive"):
            bad("rl_loss_mixing", "must be 'paper' or 'additive'")
        if self.oracle_gate not in ("none", "case", "voxel", "flags"):
            bad("oracle_gate", "must be 'none', 'case', 'voxel' or 'flags'")
        if self.oracle_gate == "flags" and not self.case_gate:
            bad("oracle_gate", "'flags' replaces the teacher gate's flags: it needs case_gate true")
        if self.omega_normalisation not in ("case", "class_across_cases"):
            bad("omega_normalisation", "must be 'case' or 'class_across_cases'")
        if self.t_max < 1:
            bad("t_max", "must be >= 1")
        if self.round_tile_batch < 1:
            bad("round_tile_batch", "must be >= 1")
        if not 0 <= self.gamma <= 1:
            bad("gamma", "must be in [0, 1]")
        if not 0 < self.action_scale <= 1:
            bad("action_scale", "must be in (0, 1]")
        if self.head_hidden < 1:
            bad("head_hidden", "must be >= 1")
        if not (math.isfinite(self.correction_every) and self.correction_every > 0):
            bad("correction_every", "must be a fraction of the run in (0, 1) or a number of epochs >= 1")
        if not 0.5 <= self.correction_tau <= 1:
            bad("correction_tau", "must be in [0.5, 1]")
        if self.correction_connectivity not in (4, 8, 6, 18, 26):
            bad("correction_connectivity", "must be one of 4, 8 (2-D) or 6, 18, 26 (3-D)")
        for name in ("entropy_weight", "lambda_continuity", "reward_local_weight", "reward_dice_weight",
                     "dale_eta", "dale_kappa", "alignment_weight", "alignment_min_weight", "correction_max_rounds",
                     "fuzzy_temperature", "fuzzy_sigma", "correction_omega_gate", "correction_band",
                     "class_balance_max_gain", "progress_plot_interval_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                bad(name, "must be a finite number >= 0")
        if self.fuzzy_temperature == 0 or self.fuzzy_sigma == 0:
            bad("fuzzy_temperature" if self.fuzzy_temperature == 0 else "fuzzy_sigma", "must be > 0")
        if not 0 <= self.correction_min_agreement <= 1:
            bad("correction_min_agreement", "must be in [0, 1]")
        if not 0 <= self.correction_support <= 1:
            bad("correction_support", "must be in [0, 1]")
        if not 0 <= self.fuzzy_entropy_threshold <= 1:
            bad("fuzzy_entropy_threshold", "must be in [0, 1]")
        if not 1 <= self.omega_max <= 30:
            bad("omega_max", "must be in [1, 30]")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_overrides(self, overrides: dict[str, Any], source: str = "overrides") -> "SVLConfig":
        """Return a copy with ``overrides`` applied; unknown keys or wrong types raise SVLInputError."""
        known = {f.name: f for f in fields(self)}
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise SVLInputError(source, f"unknown config key(s) {unknown}",
                                f"use only keys of SVLConfig: {sorted(known)}")
        clean: dict[str, Any] = {}
        for k, v in overrides.items():
            default = getattr(self, k)
            if isinstance(default, bool):
                if not isinstance(v, bool):
                    raise SVLInputError(source, f"config key '{k}' must be true or false, got {v!r}",
                                        f"write \"{k}\": true or false")
            elif isinstance(default, int):
                if isinstance(v, bool) or not isinstance(v, int):
                    raise SVLInputError(source, f"config key '{k}' must be an integer, got {v!r}",
                                        f"write an integer for '{k}'")
            elif isinstance(default, float):
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise SVLInputError(source, f"config key '{k}' must be a number, got {v!r}",
                                        f"write a number for '{k}'")
                v = float(v)
            elif isinstance(default, str) and not isinstance(v, str):
                raise SVLInputError(source, f"config key '{k}' must be a string, got {v!r}",
                                    f"write a string for '{k}'")
            clean[k] = v
        return replace(self, **clean).validate(source)


def load_config_overrides(path: str | os.PathLike) -> dict[str, Any]:
    """Read a JSON object of config overrides; clear errors for a missing or malformed file."""
    return read_json(path, "config file", fix_missing=f"create it or unset {CONFIG_ENV_VAR}",
                     missing=f"named by {CONFIG_ENV_VAR} does not exist")


def resolve_config(base: SVLConfig, environ: Optional[dict] = None) -> SVLConfig:
    """The config in force: the trainer's ``base`` plus the JSON file named by ``NNUNET_SVL_CONFIG``, if set."""
    environ = os.environ if environ is None else environ
    base = base.validate(type(base).__name__)
    path = environ.get(CONFIG_ENV_VAR)
    if not path:
        return base
    return base.with_overrides(load_config_overrides(path), source=str(path))


def epoch_period(value: float, num_epochs: int) -> int:
    """A period in epochs: fractions (< 1) of ``num_epochs`` rounded up (at least 1), epoch numbers kept."""
    if value < 1:
        return max(1, int(math.ceil(value * num_epochs - 1e-9)))
    return int(value)


def epoch_boundary(value: float, num_epochs: int) -> int:
    """A stage boundary as an epoch index: fractions (< 1) of ``num_epochs`` are rounded, epoch numbers kept."""
    if value < 1:
        return int(round(value * num_epochs))
    return int(value)
