"""What every target does, declared once, and how a command says which target it wants.

A target is where cells are measured: this machine's pinned core, a phone, or a farm of either.
The runner hands it groups of cells (`measure_groups`); cells of one group are compared with each
other, so a group is measured in the same rounds on one device. A single device measures one
group after another, through measure/adaptive.py and two hooks (`time_unit`, `profile`); a farm
gives each group to whichever of its devices is free and yields the groups as they finish.

A new kind of target is one class here (a `DeviceTarget` if measure/adaptive.py can drive it
round by round, else a `Target`) and one line in targets/__init__.py's `open_target`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, ClassVar, Iterator

from ..core.errors import DeviceLost, UserError
from ..core.results import Job, OpRow, RawMeasurement
from ..measure.protocol import Protocol

if TYPE_CHECKING:   # measuring pulls in numpy: a command that only parses its options does not wait for it
    from ..measure.adaptive import RoundSink, Snapshot


@dataclass(frozen=True)
class PhoneOptions:
    """How to reach a phone, from the CLI; None fields take the device profile's."""
    serial: str | None = None
    transport: str = "auto"
    benchmark_binary: str | None = None
    executorch_runner: str | None = None
    cooldown_secs: float | None = None
    # what the command will measure there: their binaries are pushed and checked as the phone opens,
    # before anything is exported (a runtime not named here gets its binary when a cell needs it)
    runtimes: tuple[str, ...] = ()

    @property
    def binaries(self) -> dict[str, str | None]:
        """Each phone binary's host path as given, by its profile field (android/phone_binary.py)."""
        return {"benchmark_binary": self.benchmark_binary, "executorch_runner": self.executorch_runner}


@dataclass(frozen=True)
class TargetOptions:
    """Which target a command measures on; built once from the CLI (options.py)."""
    device: str = "local"
    core: int | None = None             # None: the profile's
    phone: PhoneOptions = field(default_factory=PhoneOptions)
    farm: str | None = None             # a Ray cluster's address: measure on its devices of `device`


@dataclass(frozen=True)
class GroupWork:
    """Cells measured together, in the same rounds: one device measures them all."""
    jobs: list[Job]
    protocol: Protocol
    labels: list[str]
    metric: str = "time"      # or "instructions": counted, not timed
    device: str | None = None  # one of the target's devices() to measure on; None: any


# what measure_groups yields per group: its raw measurements, or the error that failed it
Outcome = list[RawMeasurement] | UserError


class Target(ABC):
    kind: ClassVar[str]
    name: str                 # the device profile's name: what results are stored under
    core: int | None          # the pinned core; None where each device of a farm pins its own
    # several devices measure its groups at once, each group on whichever is free: cells that are not
    # compared with each other go one per group (the load balances; a device lost loses one)
    parallel: ClassVar[bool] = False

    @abstractmethod
    def describe(self) -> dict:
        """The device as a run records it and every printed figure names it."""

    @abstractmethod
    def state(self) -> dict:
        """What could distort a number (clock, load, heat), read around a measurement."""

    @abstractmethod
    def memory_budget(self) -> int | None:
        """Bytes the models of one group may take together; None: no limit known."""

    @abstractmethod
    def measure_groups(self, groups: list[GroupWork], on_progress: Callable[[Snapshot], None] | None = None,
                       on_start: Callable[[int], None] = lambda i: None) -> Iterator[tuple[int, Outcome]]:
        """Each group's index and outcome, as groups finish (`on_start(index)` as each begins). A
        group whose measurement fails (bad model, crashing binary) yields its error and the others
        go on; Ctrl-C, or the loss of the only device that could measure, raises
        measure.adaptive.Interrupted (with what the group under way measured, and its index) or
        DeviceLost, after the groups already yielded."""

    @abstractmethod
    def count_instructions(self, jobs: list[Job]) -> list[RawMeasurement]:
        """--metric instructions: each job's instructions per invoke, or a UserError saying why
        this target cannot count them."""

    def devices(self) -> list[str]:
        """The devices a group can be sent to (GroupWork.device); a single device names none."""
        return []

    def device_label(self, device: str) -> str:
        """One of devices() as people and stored settings name it (a phone's serial, a host's core)."""
        raise UserError(f"{self.name} has no devices to name")

    @abstractmethod
    def close(self) -> None:
        """Gives back what the target holds (a phone's files and clock mode); a second call does nothing."""

    def measure_group(self, group: GroupWork, on_progress: Callable[[Snapshot], None] | None = None
                      ) -> list[RawMeasurement]:
        """One group, its error raised."""
        ((_, outcome),) = self.measure_groups([group], on_progress)
        if isinstance(outcome, UserError):
            raise outcome
        return outcome


class DeviceTarget(Target):
    """One device, measured by measure/adaptive.py one unit of rounds at a time."""

    @abstractmethod
    def time_unit(self, jobs: list[Job], *, seed: int, max_secs: float, sink: RoundSink) -> None:
        """One unit of timed rounds over every job (`seed` orders it), handed to `sink` as it comes."""

    @abstractmethod
    def profile(self, jobs: list[Job]) -> list[tuple[list[OpRow], float | None]]:
        """Each job's profiled ops and the profiled run's time, apart from every timed run."""

    def measure_groups(self, groups, on_progress=None, on_start=lambda i: None):
        from ..measure.adaptive import Interrupted, measure_jobs

        for i, group in enumerate(groups):
            on_start(i)
            try:
                raws = (self.count_instructions(group.jobs) if group.metric == "instructions" else
                        measure_jobs(group.jobs, self, group.protocol, labels=group.labels, on_progress=on_progress))
            except Interrupted as e:
                raise Interrupted(e.raws, e.cause, i) from None
            except DeviceLost:
                raise   # every later group would fail too
            except UserError as e:
                yield i, e
                continue
            yield i, raws
