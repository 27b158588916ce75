"""The declaration of an experiment grid, checked before any training starts.

A grid specification is JSON from whoever plans the study (possibly another lab), so every field
is checked for type and range when it is read, with one line naming the file and the field
(``grid.json: train.max_epochs: expected an integer in [1, 100000], got 'ten'``). Task folders
and policy files are resolved to absolute paths once, when the specification is read; the copy a
grid writes to its work directory (``grid.json``) holds those absolute paths, so ``taskfp transfer
status`` and ``outcomes`` read it without resolving anything again.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._files import atomic_write_text
from ..vocabulary import ARCHITECTURES, BASELINE_KEY, PAPER_SCENARIOS, SCENARIOS
from .config import ConfigError, TrainConfig, check_bool, check_int, check_str

__all__ = ["GridSpec", "MAX_SPEC_BYTES", "MAX_TASK_NAME"]

#: the largest grid specification file that is read
MAX_SPEC_BYTES = 16 << 20
#: the longest task name (printable characters only)
MAX_TASK_NAME = 200


def _paper_scenario_keys() -> list[str]:
    return [SCENARIOS[label].key for label in PAPER_SCENARIOS]


def _str_list(name: str, value: Any, max_len: int = 4096) -> list[str]:
    if not isinstance(value, list):
        raise ConfigError(f"{name}: expected a list of names, got {type(value).__name__}")
    out = [check_str(f"{name}[{i}]", v, max_len=max_len) for i, v in enumerate(value)]
    if len(set(out)) != len(out):
        raise ConfigError(f"{name}: names must be distinct, got {sorted(n for n in set(out) if out.count(n) > 1)}")
    return out


def _mapping(name: str, value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: expected a mapping of {what}, got {type(value).__name__}")
    return value


@dataclass
class GridSpec:
    """Declaration of an experiment grid (JSON round-trip via :meth:`to_json` / :meth:`from_json`).

    Attributes
    ----------
    tasks : dict
        Task name -> image-folder path (relative paths are resolved against the spec file and
        stored absolute). Names are printable, at most :data:`MAX_TASK_NAME` characters.
    targets, sources : list of str
        Task names. Valid sources of a target exclude the target itself and its group
        (``groups``; for the paper's 71 task names the rules of ``taskfp_lib.tasks``).
    scenarios : list of str
        Scenario keys with a plug-in (the paper's: ``arch``, ``pretrain``, ``augmentation``,
        ``multi_task``; see :mod:`taskfp_lib.transfer.plugins`).
    repetitions : list of int
        Repetition r uses seed ``seed + r`` and the learned policy of run r.
    architectures : list of str
        Candidates of the architecture scenario (the paper's 20 timm models by default).
    policies : dict
        Source name -> list of policy JSON paths (one per repetition). Sources without an
        entry use the authors' shipped policy of the task of the same name.
    validation : bool
        The VALIDATION flag of the outcome file names.
    shrunk : bool
        Evaluate the scenarios whose files have a SHRUNK field on shrunk targets (SHRUNK flag);
        the others always use shrunk targets, as in the paper.
    seed : int
    groups : list of list of str
        Image-sharing groups whose members are never sources of each other.
    train : TrainConfig
        The training recipe.

    Raises
    ------
    ConfigError
        One line naming the field: wrong type, value out of range, unknown scenario, a target or
        source without a folder.
    """

    tasks: dict[str, str]
    targets: list[str]
    sources: list[str]
    scenarios: list[str] = field(default_factory=_paper_scenario_keys)
    repetitions: list[int] = field(default_factory=lambda: [0, 1, 2])
    architectures: list[str] = field(default_factory=lambda: list(ARCHITECTURES))
    policies: dict[str, list[str]] = field(default_factory=dict)
    validation: bool = True
    shrunk: bool = True
    seed: int = 0
    groups: list[list[str]] = field(default_factory=list)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if isinstance(self.train, dict):
            try:
                self.train = TrainConfig.from_dict(self.train)
            except ConfigError as err:
                fields = {f.name for f in dataclasses.fields(TrainConfig)}
                raise ConfigError(f"train.{err}" if str(err).split(":")[0] in fields else f"train: {err}") from None
        elif not isinstance(self.train, TrainConfig):
            raise ConfigError(f"train: expected a mapping of training options, got {type(self.train).__name__}")
        self._check_tasks()
        for name in ("validation", "shrunk"):
            check_bool(name, getattr(self, name))
        check_int("seed", self.seed, 0, 2**31)
        self._check_scenarios_and_repetitions()
        self._check_policies()
        self._scans: dict[str, Any] = {}

    def _check_tasks(self) -> None:
        tasks = _mapping("tasks", self.tasks, "task name -> image folder")
        for name, folder in tasks.items():
            check_str("tasks", name, max_len=MAX_TASK_NAME)
            check_str(f"tasks[{name!r}]", folder)
        self.targets, self.sources = _str_list("targets", self.targets), _str_list("sources", self.sources)
        if not self.targets or not self.sources:
            raise ConfigError("targets, sources: a grid needs at least one target and one source")
        missing = sorted({t for t in [*self.targets, *self.sources] if t not in tasks})
        if missing:
            raise ConfigError(f"targets, sources: task(s) {missing} have no image folder in 'tasks'")
        if not isinstance(self.groups, list):
            raise ConfigError(f"groups: expected a list of lists of task names, got {type(self.groups).__name__}")
        self.groups = [_str_list(f"groups[{i}]", g) for i, g in enumerate(self.groups)]

    def _check_scenarios_and_repetitions(self) -> None:
        from .plugins import plugins

        known = sorted(k for k in plugins() if k != BASELINE_KEY)
        unknown = [s for s in _str_list("scenarios", self.scenarios) if s not in known]
        if unknown:
            raise ConfigError(f"scenarios: unknown scenario(s) {unknown}; known: {known}")
        if not isinstance(self.repetitions, list) or not self.repetitions:
            raise ConfigError(f"repetitions: expected a non-empty list of integers, got {self.repetitions!r}")
        reps = [check_int(f"repetitions[{i}]", r, 0, 10_000) for i, r in enumerate(self.repetitions)]
        if len(set(reps)) != len(reps):
            raise ConfigError(f"repetitions: must be distinct, got {reps}")
        if not self.architectures:
            raise ConfigError("architectures: expected at least one timm architecture")
        _str_list("architectures", self.architectures, max_len=200)

    def _check_policies(self) -> None:
        for source, paths in _mapping("policies", self.policies, "source name -> policy files").items():
            where = f"policies[{source!r}]"
            if not isinstance(paths, list) or len(paths) < len(self.repetitions):
                raise ConfigError(f"{where}: needs a list of one policy file per repetition "
                                  f"({len(self.repetitions)})")
            for i, p in enumerate(paths):
                check_str(f"{where}[{i}]", p)

    # -- (de)serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (``train`` as a mapping)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d = json.loads(json.dumps({k: v for k, v in d.items() if k != "train"}))
        d["train"] = dataclasses.asdict(self.train)
        return d

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """The specification as JSON text, written atomically to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            atomic_write_text(Path(path), text + "\n")
        return text

    @classmethod
    def from_dict(cls, values: Any, base: str | os.PathLike | None = None) -> "GridSpec":
        """Build from parsed JSON; relative paths become absolute paths below ``base`` (default: the cwd)."""
        if not isinstance(values, dict):
            raise ConfigError(f"expected a mapping of grid options, got {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown grid option(s) {unknown}; known: {sorted(known)}")
        missing = sorted({"tasks", "targets", "sources"} - set(values))
        if missing:
            raise ConfigError(f"missing grid option(s) {missing}")
        values = dict(values)
        root = Path(base) if base is not None else Path.cwd()
        tasks = _mapping("tasks", values["tasks"], "task name -> image folder")
        values["tasks"] = {k: _absolute(root, v) for k, v in tasks.items()}
        policies = _mapping("policies", values.get("policies", {}), "source name -> policy files")
        values["policies"] = {k: [_absolute(root, p) for p in v] if isinstance(v, list) else v
                              for k, v in policies.items()}
        return cls(**values)

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "GridSpec":
        """Read a specification file; every error is one line ``<path>: <field>: <what>``."""
        path = Path(path)
        try:
            if path.stat().st_size > MAX_SPEC_BYTES:
                raise ConfigError(f"{path}: grid specification larger than {MAX_SPEC_BYTES} bytes")
            values = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: grid specification not found") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path}: not valid JSON ({err})") from None
        try:
            return cls.from_dict(values, base=path.parent)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{path}: {err}") from None

    # -- task logic -------------------------------------------------------------------------
    def valid_sources(self, target: str) -> list[str]:
        """Sources of ``target`` in ``sources`` order (paper rules for the paper's task names)."""
        from taskfp_lib import tasks as registry

        if target in registry.ALL_TASKS and all(s in registry.ALL_TASKS for s in self.sources):
            allowed = set(registry.valid_sources(target))
        else:
            allowed = set(self.sources)
        excluded = {target}
        for group in self.groups:
            if target in group:
                excluded.update(group)
        return [s for s in self.sources if s in allowed and s not in excluded]

    def scan(self, task: str):
        """The scan of a task's folder (read once per specification object)."""
        if task not in self._scans:
            from .data import read_task

            self._scans[task] = read_task(self.tasks[task], task)
        return self._scans[task]

    def shrinkable(self, task: str) -> bool:
        """Whether ``task`` has a shrunk variant (:func:`~taskfp_lib.transfer.data.has_shrunk_variant`)."""
        from taskfp_lib import tasks as registry
        from .data import has_shrunk_variant

        if task in registry.ALL_TASKS:
            return registry.is_shrinkable(task)
        return has_shrunk_variant(self.scan(task), self.train.shrink_threshold, self.train.max_classes)

    def policy_path(self, source: str, repetition: int) -> str:
        """The policy file a source lends to repetition ``repetition`` (given, else the authors')."""
        if source in self.policies:
            return self.policies[source][self.repetitions.index(repetition)]
        from .policy_files import policy_file

        return str(policy_file(source, repetition))

    def check_inputs(self) -> None:
        """Read every input a training needs before any runs: task folders, architectures, and what each
        scenario's plug-in checks (:meth:`~taskfp_lib.transfer.plugins.TransferScenario.check_inputs`).

        Raises
        ------
        ValueError
            One line naming the folder, architecture or policy file (and transform) at fault.
        """
        import timm

        for task in dict.fromkeys([*self.targets, *self.sources]):
            self.scan(task)
        unknown = [a for a in dict.fromkeys([*self.architectures, self.train.arch]) if not timm.is_model(a)]
        if unknown:
            raise ConfigError(f"architectures: unknown timm architecture(s) {unknown}")
        from .plugins import get_plugin

        for key in self.scenarios:
            get_plugin(key).check_inputs(self)


def _absolute(root: Path, value: Any) -> Any:
    if not isinstance(value, str) or not value:
        return value  # the field check names it
    return os.path.abspath(os.path.join(root, os.path.expanduser(value)))
