"""Running nnU-Net's own commands as a user would (plan/preprocess, train, predict), inside a workspace.

Used by ``nnunet-svl demo``, the benchmark and the end-to-end tests. Every step is a subprocess of the real nnU-Net
entry point, with nnUNet_raw/preprocessed/results and nnUNet_extTrainer set for the workspace.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Sequence

from nnunet_svl.tools.workspace import workspace_env


class StepFailed(RuntimeError):
    pass


_EPOCH_LINE = re.compile(r"^\S.*?: Epoch (\d+)\s*$", re.MULTILINE)


class EpochProgress:
    """Live progress of an ``nnUNetv2_train`` step from its log: ``name: epoch i/N [#####-----] ETA m:ss``, one line
    whenever a new epoch starts (line by line, so redirected output stays readable). nnU-Net writes ``Epoch k`` (from 0)
    at the start of every epoch; the ETA is the mean time of the finished epochs times those left."""

    def __init__(self, name: str, total_epochs: Optional[int], out=None, clock=time.time, width: int = 20):
        self.name, self.total, self.width = name, total_epochs, width
        self.out = out if out is not None else sys.stderr
        self.clock = clock
        self.offset = 0
        self.first: Optional[tuple[int, float]] = None   # (epoch, time) first seen: a resumed run starts late
        self.epoch: Optional[int] = None

    def line(self, epoch: int, now: float) -> str:
        text = f"  {self.name}: epoch {epoch + 1}"
        if not self.total:
            return text
        done = min(epoch, self.total)
        bar = "#" * round(self.width * done / self.total)
        text += f"/{self.total} [{bar:-<{self.width}}]"
        if self.first is not None and epoch > self.first[0]:
            left = (now - self.first[1]) / (epoch - self.first[0]) * max(self.total - epoch, 0)
            text += f" ETA {int(left) // 60}:{int(left) % 60:02d}"
        return text

    def poll(self, log: Path) -> None:
        try:
            with open(log, "r", errors="replace") as f:
                f.seek(self.offset)
                chunk = f.read()
        except OSError:
            return
        cut = chunk.rfind("\n") + 1           # whole lines only; the rest is read next time
        self.offset += len(chunk[:cut].encode("utf-8", errors="replace"))
        for m in _EPOCH_LINE.finditer(chunk[:cut]):
            epoch = int(m.group(1))
            now = self.clock()
            if self.first is None:
                self.first = (epoch, now)
            if epoch != self.epoch:
                self.epoch = epoch
                print(self.line(epoch, now), file=self.out, flush=True)


# nnU-Net's commands are run as their entry functions by the workspace's interpreter (``python -c``), not through the
# console scripts: nnU-Net's validation and predictor spawn worker pools (export, metrics, preprocessing), and a spawned
# worker first re-runs its parent's main script. The console script's main imports the command's whole module stack
# (``nnUNetv2_train``: ~11 s on an idle 2-core machine); a ``-c`` parent has no main script, so its workers import only
# the code they run (export: ~5 s). The same functions with the same arguments; a tiny test training took 42 s through
# the console script and 35 s so. (tests/test_e2e.py runs the console scripts themselves.)
_ENTRY_POINTS = {"nnUNetv2_train": ("nnunetv2.run.run_training", "run_training_entry"),
                 "nnUNetv2_predict": ("nnunetv2.inference.predict_from_raw_data", "predict_entry_point")}


def _entry_argv(command: str, args: Sequence[str]) -> list[str]:
    """``command args`` as its nnU-Net entry function under this interpreter: a sequence of one run."""
    return _entry_argv_sequence(command, [(args, {})])


def _entry_argv_sequence(command: str, runs: Sequence[tuple[Sequence[str], Mapping[str, str]]]) -> list[str]:
    """Several ``command args`` one after the other in one interpreter (one nnU-Net start-up): ``runs`` = (args,
    environment variables set for that run only). Stops at the first run that fails."""
    module, function = _ENTRY_POINTS[command]
    code = (f"import json, os, sys; from {module} import {function}\n"
            "for args, env in json.loads(sys.argv[1]):\n"
            "    before = {k: os.environ.get(k) for k in env}\n"
            "    os.environ.update(env)\n"
            f"    sys.argv = [{command!r}, *args]\n"
            f"    {function}()\n"
            "    for k, v in before.items():\n"
            "        if v is None:\n"
            "            os.environ.pop(k, None)\n"
            "        else:\n"
            "            os.environ[k] = v")
    return [sys.executable, "-c", code, json.dumps([[list(a), dict(e)] for a, e in runs])]


def _bin(name: str) -> str:
    """The nnU-Net console script of the running interpreter's environment (works without an activated venv)."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else (shutil.which(name) or name)


@dataclass
class NNUNetWorkspace:
    root: Path
    env: dict = field(default_factory=dict)
    log_dir: Optional[Path] = None
    quiet: bool = True

    @classmethod
    def create(cls, root: Path, quiet: bool = True, extra_env: Optional[dict] = None) -> "NNUNetWorkspace":
        root = Path(root).resolve()
        env = workspace_env(root)
        env.setdefault("nnUNet_def_n_proc", str(min(2, os.cpu_count() or 1)))
        env.setdefault("nnUNet_compile", "false")
        if extra_env:
            env.update(extra_env)
        log_dir = root / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        return cls(root=root, env=env, log_dir=log_dir, quiet=quiet)

    @property
    def raw(self) -> Path:
        return Path(self.env["nnUNet_raw"])

    @property
    def preprocessed(self) -> Path:
        return Path(self.env["nnUNet_preprocessed"])

    @property
    def results(self) -> Path:
        return Path(self.env["nnUNet_results"])

    def run(self, name: str, argv: Sequence[str], extra_env: Optional[dict] = None,
            progress_epochs: Optional[int] = 0, shown: Optional[Sequence[str]] = None) -> float:
        """Run one command; its output goes to logs/<name>.log (and the console unless quiet). Returns seconds.
        ``shown``: the command written at the top of the log when it differs from ``argv`` (the nnU-Net command a
        user would type for the same step).
        ``progress_epochs`` (training steps, quiet mode): print :class:`EpochProgress` lines while it runs (the
        number of epochs for the bar and ETA, or None when unknown; 0 = no progress lines)."""
        env = dict(self.env)
        if extra_env:
            env.update(extra_env)
        log = self.log_dir / f"{name}.log"
        t0 = time.time()
        with open(log, "w") as f:
            f.write("$ " + " ".join(shown or argv) + "\n")
            f.flush()
            proc = subprocess.Popen(list(argv), env=env, stdout=f if self.quiet else subprocess.PIPE,
                                    stderr=subprocess.STDOUT, cwd=self.root)
            progress = EpochProgress(name, progress_epochs) if self.quiet and progress_epochs != 0 else None
            try:
                if not self.quiet:
                    # verbose: the step's output on the console *and* in its log (what the README promises)
                    for line in iter(proc.stdout.readline, b""):
                        sys.stdout.write(line.decode(errors="replace"))
                        sys.stdout.flush()
                        f.write(line.decode(errors="replace"))
                    proc.stdout.close()
                    proc.wait()
                while proc.poll() is None:
                    if progress is not None:
                        progress.poll(log)
                    time.sleep(0.5)
            except BaseException:          # Ctrl-C: do not leave nnU-Net training in the background
                proc.kill()
                proc.wait()
                raise
        if proc.returncode != 0:
            tail = log.read_text()[-3000:] if self.quiet else ""
            raise StepFailed(f"{name} failed (exit {proc.returncode}); see {log}\n{tail}")
        return time.time() - t0

    # ----------------------------------------------------------------------------------------- nnU-Net steps
    def plan_and_preprocess(self, dataset_id: int | Sequence[int], configurations: Sequence[str] = ("3d_fullres",),
                            num_processes: int = 2, verify: bool = True) -> float:
        """``verify`` adds nnU-Net's ``--verify_dataset_integrity`` (what users run; ~20 s of extra worker start-up
        even for a one-case dataset). Several ids: one ``nnUNetv2_plan_and_preprocess -d ID ID ...`` (one nnU-Net
        start-up for all of them)."""
        ids = [str(dataset_id)] if isinstance(dataset_id, (int, str)) else [str(i) for i in dataset_id]
        return self.run(f"plan_preprocess_{'_'.join(ids)}",
                        [_bin("nnUNetv2_plan_and_preprocess"), "-d", *ids, "-c", *configurations,
                         "-np", *[str(num_processes)] * len(configurations),
                         *(["--verify_dataset_integrity"] if verify else [])])

    @staticmethod
    def train_args(dataset_id: int, trainer: str, configuration: str = "3d_fullres", fold: int | str = 0,
                   plans: str = "nnUNetPlans", device: str = "cpu", resume: bool = False,
                   extra_args: Sequence[str] = ()) -> list[str]:
        """The arguments of ``nnUNetv2_train`` for one training (tests/test_e2e.py gives them to the console script)."""
        return [str(dataset_id), configuration, str(fold), "-tr", trainer, "-p", plans, "-device", device,
                *extra_args, *(["--c"] if resume else [])]

    @staticmethod
    def predict_args(dataset_id: int, trainer: str, input_dir: Path, output_dir: Path,
                     configuration: str = "3d_fullres", folds: Sequence[int | str] = (0,), plans: str = "nnUNetPlans",
                     device: str = "cpu", extra_args: Sequence[str] = ()) -> list[str]:
        """The arguments of ``nnUNetv2_predict``. On the CPU ``-npp 0 -nps 0``: nnU-Net's sequential prediction
        (preprocess, predict, export one case after the other in the one process). Its workers would only overlap
        preprocessing and export with a network that already uses every core, and each is a spawned interpreter that
        imports torch: a 2-case prediction took 25.5 / 28.4 s with one worker each, 15.7 / 17.4 s sequential, with
        identical segmentations (BENCHMARKS.md, ninth session). On a GPU one worker each, as before."""
        workers = "0" if device == "cpu" else "1"
        return ["-i", str(input_dir), "-o", str(output_dir), "-d", str(dataset_id), "-c", configuration,
                "-tr", trainer, "-p", plans, "-f", *[str(f) for f in folds], "-device", device, "-npp", workers,
                "-nps", workers, *extra_args]

    def _train_env(self, extra_env: Optional[dict]) -> dict:
        return {"nnUNet_n_proc_DA": self.env.get("nnUNet_n_proc_DA", "0"), **(extra_env or {})}

    def train(self, dataset_id: int, trainer: str, configuration: str = "3d_fullres", fold: int | str = 0,
              plans: str = "nnUNetPlans", device: str = "cpu", resume: bool = False,
              extra_env: Optional[dict] = None, name: Optional[str] = None, extra_args: Sequence[str] = (),
              progress_epochs: Optional[int] = 0) -> float:
        """``nnUNetv2_train`` with these arguments (run as nnU-Net's entry function, see ``_ENTRY_POINTS``)."""
        args = self.train_args(dataset_id, trainer, configuration, fold, plans, device, resume, extra_args)
        return self.run(name or f"train_{dataset_id}_{trainer}_{configuration}_{fold}",
                        _entry_argv("nnUNetv2_train", args), extra_env=self._train_env(extra_env),
                        progress_epochs=progress_epochs, shown=["nnUNetv2_train", *args])

    def train_folds(self, dataset_id: int, trainer: str, folds: Sequence[int] = (0, 1, 2, 3, 4),
                    configuration: str = "3d_fullres", plans: str = "nnUNetPlans", device: str = "cpu",
                    extra_env: Optional[dict] = None, name: Optional[str] = None,
                    extra_args: Sequence[str] = ()) -> float:
        """``nnUNetv2_train`` for each of ``folds``, one after the other in one interpreter (nnU-Net's entry function
        once per fold, the same arguments): one nnU-Net start-up instead of one per fold."""
        runs = [self.train_args(dataset_id, trainer, configuration, f, plans, device, extra_args=extra_args)
                for f in folds]
        shown = ["for", "f", "in", *map(str, folds), ";", "do", "nnUNetv2_train",
                 *self.train_args(dataset_id, trainer, configuration, "$f", plans, device, extra_args=extra_args),
                 ";", "done"]
        return self.run(name or f"train_{dataset_id}_{trainer}_{configuration}_folds",
                        _entry_argv_sequence("nnUNetv2_train", [(a, {}) for a in runs]),
                        extra_env=self._train_env(extra_env), shown=shown)

    def train_sequence(self, runs: Sequence[tuple[Sequence[str], Mapping[str, str]]], name: str,
                       extra_env: Optional[dict] = None) -> float:
        """Several trainings one after the other in one interpreter: ``runs`` = (:meth:`train_args`, environment
        variables for that run), e.g. different trainers on one fold. The log shows one ``nnUNetv2_train`` command
        per run, with its variables."""
        shown: list[str] = []
        for args, env in runs:
            shown += [*(["&&"] if shown else []), *(f"{k}={v}" for k, v in env.items()), "nnUNetv2_train", *args]
        return self.run(name, _entry_argv_sequence("nnUNetv2_train", runs), extra_env=self._train_env(extra_env),
                        shown=shown)

    def predict(self, dataset_id: int, trainer: str, input_dir: Path, output_dir: Path,
                configuration: str = "3d_fullres", folds: Sequence[int | str] = (0,), plans: str = "nnUNetPlans",
                device: str = "cpu", name: Optional[str] = None, extra_args: Sequence[str] = ()) -> float:
        """``nnUNetv2_predict`` with these arguments (run as nnU-Net's entry function, see ``_ENTRY_POINTS``)."""
        args = self.predict_args(dataset_id, trainer, input_dir, output_dir, configuration, folds, plans, device,
                                 extra_args)
        return self.run(name or f"predict_{dataset_id}_{trainer}_{configuration}", _entry_argv("nnUNetv2_predict", args),
                        shown=["nnUNetv2_predict", *args])

    def run_folder(self, dataset_name: str, trainer: str, configuration: str = "3d_fullres",
                   plans: str = "nnUNetPlans") -> Path:
        return self.results / dataset_name / f"{trainer}__{plans}__{configuration}"
