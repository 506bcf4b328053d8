"""The one interface AdbTarget drives a phone binary through: TFLite's benchmark_model for litert
cells (android/benchmark_model.py), ExecuTorch's executor_runner for executorch cells
(android/executor_runner.py). AdbTarget pushes the binary, checks it with `--help`, runs it pinned
with the flags the class gives, and hands the class the run's output (and, for a profiled run,
the files it wrote, pulled back) to read. A new binary is one class and one line in
android/target.py's BINARIES (and its --option in options.py and PhoneOptions)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar, Protocol

from ...core.results import Job, OpRow
from .clock import tail


class RunLog(Protocol):
    def summary_ms(self) -> dict:
        """The run's end-to-end figures in ms: mean, median, std, min, max (None where absent), n."""


class PhoneBinary(ABC):
    name: ClassVar[str]        # as messages name it
    runtime: ClassVar[str]     # the runtime whose cells it measures
    field: ClassVar[str]       # the device profile's field (and PhoneOptions') for its host path
    option: ClassVar[str]      # the command line's option for it
    how_to_get: ClassVar[str]  # what a user does who has none

    def __init__(self, help_output: str):
        self.help = help_output

    @classmethod
    def missing(cls, path: Path | None, device: str) -> str:
        """The one line for a binary that is not there."""
        if path is None:
            return (f"no {cls.name} binary for {device}: {cls.how_to_get}, then pass {cls.option} PATH "
                    f"or set {cls.field} in the device profile")
        return f"{cls.name} binary {path} not found: {cls.how_to_get} or pass {cls.option} PATH"

    @classmethod
    @abstractmethod
    def abi_hint(cls, abilist: list[str]) -> str:
        """How to get a build the phone runs."""

    @abstractmethod
    def facts(self) -> dict:
        """What its --help says about it (version, what it can record): kept as evidence."""

    @abstractmethod
    def flags(self, job: Job, model: str, profiled: bool) -> list[str]:
        """The run's flags: the protocol's timed runs, or (profiled) the per-op profile."""

    def unmeasured(self) -> str | None:
        """What this build cannot measure, said once as a warning; None: nothing."""
        return None

    def writes(self, model: str) -> list[str]:
        """The files its runs leave on the phone (removed at the end); a profiled run's are pulled
        back for layers()."""
        return []

    @abstractmethod
    def read(self, output: str, job: Job, profiled: bool) -> RunLog:
        """The run's figures; ValueError (one line) for output that holds no usable timing."""

    @abstractmethod
    def layers(self, log: RunLog, job: Job, pulled: list[Path]) -> tuple[list[OpRow], float | None]:
        """A profiled run's ops under the paper's layers, and the profiled run's time in ms."""

    def reason(self, output: str) -> str:
        """What a failed run's output says of the failure."""
        return tail(output)
