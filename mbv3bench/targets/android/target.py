"""An Android phone: each cell run by its runtime's phone binary (TFLite's benchmark_model for
litert, ExecuTorch's executor_runner for executorch; android/phone_binary.py), one thread, pinned
with taskset to one large core -- the paper's protocol -- at a known clock, with the evidence of
each run kept.

The phone is reached through android/transport.py (adb server or adb-shell; this file does not
care which). Everything that reaches the device shell is quoted with shlex.quote.
"""
from __future__ import annotations

import shlex
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from ...core.errors import DeviceLost, UserError, one_line
from ...export.artifacts import sha256_file
from ...core.results import Job, OpRow, RawMeasurement
from ...measure.adaptive import RoundSink
from ...measure.pinned import MeasurementError
from ...measure.rounds import order_of
from ..base import DeviceTarget, PhoneOptions
from . import clock
from .benchmark_model import BenchmarkModel
from .binary import check_abi, check_runs, failure
from .executor_runner import ExecutorRunner
from .phone import QUICK_TIMEOUT_S, mask, max_freqs_khz, phone_info, top_cores
from .phone_binary import PhoneBinary, RunLog
from .route import open_transport
from .transport import LinkLost, LinkTimeout, PullFailed, PushFailed

PUSH_TIMEOUT_S = 300      # a benchmark binary is ~10 MB; USB 2 or Wi-Fi can be slow
POLL_S = 5                # cool-down polling period
MAX_ATTEMPTS = 3          # a measurement and up to two re-measurements after cool-downs
# the binary that runs each runtime's cells on a phone
BINARIES: dict[str, type[PhoneBinary]] = {b.runtime: b for b in (BenchmarkModel, ExecutorRunner)}


def _size(path: Path) -> str:
    n = path.stat().st_size
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


class AdbTarget(DeviceTarget):
    kind = "android"

    def __init__(self, profile: dict, core: int | None = None, phone: PhoneOptions = PhoneOptions()):
        self.name = profile["name"]
        self.device_profile = profile
        self._given = phone.binaries
        self.binaries: dict[str, PhoneBinary] = {}   # runtime -> its binary, pushed and checked in this run
        self.binary_facts: dict[str, dict] = {}      # runtime -> its binary's evidence
        self.workdir = profile.get("workdir", "/data/local/tmp/mbv3bench")
        self.cooldown_secs = profile.get("cooldown_secs", 120) if phone.cooldown_secs is None else phone.cooldown_secs
        self.thermal_limit_c = profile.get("thermal_limit_c", 50)
        self.max_thermal_status = profile.get("max_thermal_status", 0)  # 0: NONE, any throttling is hot
        self.warnings: list[str] = []
        self.fixed_performance = "not tried"
        self._mode_ended = False
        self._pushed: dict[str, str] = {}  # device path -> sha256 verified on the device in this run
        self._written: set[str] = set()    # device paths this run wrote, even partly: removed at the end
        self._link = open_transport(phone.serial or profile.get("serial"), phone.transport)
        self.where = self._link.serial
        try:
            self.info = self._call(phone_info, self._link, what="the device check")
            self.large_cores = self._large_cores()
            if core is not None and core not in self._cpus:
                raise UserError(f"--core {core} is not a CPU of {self.where}; it has {', '.join(map(str, self._cpus))}")
            self.core = self.large_cores[0] if core is None else core
            self._check_profile()
            self._run(f"mkdir -p {shlex.quote(self.workdir)}", QUICK_TIMEOUT_S, "setting up the work directory")
            for runtime in phone.runtimes:
                self._binary(runtime)
            # last: from here on close() has a mode to restore
            self.fixed_performance = clock.fixed_performance(
                lambda command: self._run(command, QUICK_TIMEOUT_S, "the fixed performance switch"),
                self.info["sdk"], True)
        except BaseException:
            self.close()  # nobody gets a target to close
            raise

    # ---- the link ---------------------------------------------------------------------

    def _lost(self, what: str, how: str = "disconnected") -> DeviceLost:
        left_on = ""
        if self.fixed_performance == "on" and not self._mode_ended:
            self._mode_ended = True  # said here, in the one line, rather than in a warning from close()
            left_on = f"; its fixed performance mode stays on: end it with `adb shell {clock.FIXED_PERFORMANCE} false`"
        return DeviceLost(f"device {self.where} {how} during {what}; finished measurements are kept; "
                          f"reconnect and run again with --resume{left_on}")

    def _call(self, fn, *args, what: str, timeout: float = QUICK_TIMEOUT_S):
        if self._link is None:
            raise self._lost(what)
        try:
            return fn(*args)
        except LinkTimeout:
            # A phone that went silent and a command that hung look the same from here; either way
            # the link is in an unknown state, so stop rather than fail every remaining cell.
            self._drop()
            raise self._lost(what, f"did not answer within {timeout:g} s") from None
        except LinkLost:
            self._drop()
            raise self._lost(what) from None

    def _drop(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            link.close()

    def _run(self, command: str, timeout: float, what: str) -> tuple[int | None, str]:
        return self._call(self._link.shell, command, timeout, what=what, timeout=timeout)

    def close(self) -> None:
        """Ends fixed performance mode if this run began it, removes what this run wrote, and the
        work directory if that leaves it empty (a profile may name a shared directory, so never
        `rm -r` it); then closes the link. Whatever happened before; a second call does nothing."""
        link, began = self._link, self.fixed_performance == "on" and not self._mode_ended
        self._mode_ended = True
        ended = "the link is gone"
        if link is not None:
            try:
                if began:
                    ended = clock.fixed_performance(lambda c: link.shell(c, QUICK_TIMEOUT_S), self.info["sdk"], False)
                files = " ".join(map(shlex.quote, sorted(self._written)))
                link.shell(f"rm -f {files}; rmdir {shlex.quote(self.workdir)} 2>/dev/null", QUICK_TIMEOUT_S)
            except LinkLost:
                pass
            self._drop()
        if began and ended != "off":
            self._warn(f"fixed performance mode may still be on at {self.where} ({ended}): end it with "
                       f"`adb shell {clock.FIXED_PERFORMANCE} false`")

    # ---- the device check -------------------------------------------------------------

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        print(f"warning: {message}", file=sys.stderr)

    def _large_cores(self) -> list[int]:
        """The cores at the highest cpuinfo_max_freq (sysfs is the truth; the profile is a default)."""
        freqs = self._call(max_freqs_khz, self._link, what="the device check")
        self._cpus = sorted(freqs) or list(range(8))
        expected = list(self.device_profile.get("large_cores") or [])
        if not freqs:
            self._warn(f"{self.where}: cpuinfo_max_freq unreadable; using the profile's large cores {expected}")
            return expected or [self._cpus[-1]]
        measured = top_cores(freqs)
        if expected and measured != sorted(expected):
            self._warn(f"{self.where}: large cores by cpuinfo_max_freq are {measured}, the profile {self.name} "
                       f"says {expected}; using {measured}")
        return measured

    def _check_profile(self) -> None:
        for field, key in (("model", "model"), ("soc_platform", "platform"), ("abi", "abi")):
            want, got = self.device_profile.get(field), self.info.get(key)
            if want and got and str(want).lower() != got.lower():
                self._warn(f"{self.where} reports {key} {got!r}, the profile {self.name} says {want!r}")
        if self.core not in self.large_cores:
            self._warn(f"core {self.core} is not a large core of {self.where} ({self.large_cores})")

    def _host_path(self, kind: type[PhoneBinary]) -> Path | None:
        given = self._given.get(kind.field) or self.device_profile.get(kind.field)
        return Path(given).expanduser() if given else None

    def _binary(self, runtime: str) -> PhoneBinary:
        """The runtime's binary, pushed and asked for --help the first time a cell needs it: one the
        phone cannot run fails there, and its flags say what it can record."""
        if runtime in self.binaries:
            return self.binaries[runtime]
        if runtime not in BINARIES:
            raise MeasurementError(f"{self.name} runs {', '.join(BINARIES)} cells, not {runtime}")
        kind = BINARIES[runtime]
        path = self._host_path(kind)
        if path is None or not path.is_file():
            raise UserError(kind.missing(path, self.name))
        abi = check_abi(path, self.info["abilist"], self.where, kind.name, kind.abi_hint)
        remote = self._ensure(path, f"{self.workdir}/{kind.name}")
        rc, out = self._run(f"{shlex.quote(remote)} --help", QUICK_TIMEOUT_S, f"the {kind.name} check")
        check_runs(rc, out, remote, self.where, self.workdir)
        binary = kind(out)
        self.binary_facts[runtime] = {"sha256": self._pushed[remote], "abi": abi or "not ELF (a script)",
                                      "host_path": str(path.resolve()), "device_path": remote, **binary.facts()}
        if (unmeasured := binary.unmeasured()) is not None:
            self._warn(f"{path}: {unmeasured}")
        self.binaries[runtime] = binary
        return binary

    def measure_groups(self, groups, on_progress=None, on_start=lambda i: None):
        # every binary the groups need is on the phone and runs before anything is measured
        for runtime in dict.fromkeys(job.runtime for group in groups for job in group.jobs):
            self._binary(runtime)
        yield from super().measure_groups(groups, on_progress, on_start)

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "serial": self.where, **self.info,
                "transport": self._link.kind if self._link else None,
                "route": self._link.route if self._link else None,
                "core": self.core, "large_cores": self.large_cores,
                "large_cores_profile": self.device_profile.get("large_cores"),
                "fixed_performance_mode": self.fixed_performance,
                **{kind.field: str(path) if (path := self._host_path(kind)) else None for kind in BINARIES.values()},
                "warnings": self.warnings}

    # ---- measuring --------------------------------------------------------------------

    def _ensure(self, local: Path, remote: str) -> str:
        """Pushes `local` unless the device already has it (checked by sha256), then verifies it."""
        sha = sha256_file(local)
        if self._pushed.get(remote) == sha:
            return remote
        check = f"sha256sum {shlex.quote(remote)}"
        _, out = self._run(check, QUICK_TIMEOUT_S, f"checking {remote}")
        if not out.startswith(sha):
            self._written.add(remote)
            try:
                self._call(self._link.push, local, remote, PUSH_TIMEOUT_S, what=f"the push of {local.name}",
                           timeout=PUSH_TIMEOUT_S)
            except PushFailed as e:
                if "no space" in str(e).lower():
                    raise MeasurementError(
                        f"{self.where} is out of storage: the push of {local.name} ({_size(local)}) to {remote} "
                        f"failed ({e}); free space on the phone, then run again with --resume"
                    ) from None
                raise MeasurementError(f"push of {local} to {self.where}:{remote} refused: {e}") from None
            _, out = self._run(check, QUICK_TIMEOUT_S, f"checking {remote}")
            if not out.startswith(sha):
                raise MeasurementError(f"{remote} on {self.where} does not match {local} after the push "
                                       f"(sha256sum said: {clock.tail(out, 1)})")
        self._pushed[remote] = sha
        return remote

    def state(self) -> dict:
        return self._state("reading the phone's state")

    def memory_budget(self) -> None:
        """None: benchmark_model loads one model at a time."""

    def count_instructions(self, jobs: list[Job]) -> list[RawMeasurement]:
        raise UserError(f"--metric instructions counts on this machine only (--device local), not {self.name}: "
                        f"{' and '.join(kind.name for kind in BINARIES.values())} count no instructions")

    def time_unit(self, jobs: list[Job], *, seed: int, max_secs: float, sink: RoundSink) -> None:
        """One run of its binary per cell, in this round's order: each is one block; each run
        stops at the protocol's max_secs."""
        for i in order_of(len(jobs), seed):
            raw = self.measure(replace(jobs[i], per_layer=False))
            sink.take_run(i, raw.summary or {}, raw.device_state)

    def profile(self, jobs: list[Job]) -> list[tuple[list[OpRow], float | None]]:
        # a phone binary times a token run before its profiled one; that time is not kept
        token = {"runs": 1, "min_secs": 0, "warmup_runs": 0, "warmup_secs": 0}
        raws = [self.measure(replace(j, protocol={**j.protocol, **token})) for j in jobs]
        return [(r.ops, r.profiled_run_ms) for r in raws]

    def _state(self, what: str) -> dict:
        _, out = self._run(clock.state_script(self.core), QUICK_TIMEOUT_S, what)
        return clock.parse_state(out)

    def _too_hot(self, state: dict, after_run: bool) -> str | None:
        status = state["thermal_status"]
        if status is not None and status > self.max_thermal_status:
            return f"thermal status {status} ({clock.status_name(status)})"
        hot = {k: t for k, t in state["temps_c"].items() if t > self.thermal_limit_c}
        if hot:
            return f"temperature above {self.thermal_limit_c} C: " + ", ".join(f"{k} {t:g} C" for k, t in hot.items())
        top = state["max_mhz"]
        if top and state["cap_mhz"] and state["cap_mhz"] < top:
            return f"core {self.core} capped at {state['cap_mhz']:g} of {top:g} MHz"
        # An idle core clocks down under any governor, so the current clock says something only
        # right after a run, when the core was busy.
        if after_run and top and state["core_mhz"] and state["core_mhz"] < top:
            return f"core {self.core} at {state['core_mhz']:g} of {top:g} MHz after the run"
        return None

    def _cool_down(self, reason: str, what: str) -> tuple[dict, dict]:
        """Waits (polling) until the phone is cool or cooldown_secs pass: (the record, the last state)."""
        start = time.monotonic()
        while True:
            state = self._state(f"a cool-down before {what}")
            hot = self._too_hot(state, after_run=False)
            waited = time.monotonic() - start
            if not hot or waited >= self.cooldown_secs:
                return {"reason": reason, "waited_s": round(waited, 1), "cooled": hot is None}, state
            time.sleep(min(POLL_S, self.cooldown_secs - waited))

    def _benchmark(self, binary: PhoneBinary, job: Job, model: str, profiled: bool, what: str,
                   timeout: float) -> tuple[RunLog, dict]:
        """One pinned run of the binary: (the parsed log, its evidence record)."""
        # one thread: the pinned core; more: all large cores
        cpu_mask = mask([self.core] if job.threads == 1 else self.large_cores)
        command = clock.pinned(cpu_mask, [self.binary_facts[job.runtime]["device_path"],
                                          *binary.flags(job, model, profiled)])
        rc, out = self._run(command, timeout, what)
        report, out = clock.split_affinity(out)
        record = {"purpose": "op_profile" if profiled else "timing", "command": command, "exit_code": rc,
                  "output": out, "affinity": clock.affinity(cpu_mask, report)}
        if rc != 0:
            raise MeasurementError(failure(binary.name, rc, binary.reason(out), self.where))
        try:
            return binary.read(out, job, profiled), record
        except ValueError as e:
            raise MeasurementError(f"{binary.name} on {self.where}: {e}: {clock.tail(out)}") from None

    def _pull(self, remote: str, into: Path) -> Path:
        local = into / Path(remote).name
        try:
            self._call(self._link.pull, remote, local, PUSH_TIMEOUT_S, what=f"the pull of {remote}",
                       timeout=PUSH_TIMEOUT_S)
        except PullFailed as e:
            raise MeasurementError(f"{remote} on {self.where} could not be pulled: {e}") from None
        return local

    def _layers(self, binary: PhoneBinary, log: RunLog, job: Job, model: str) -> tuple[list[OpRow], float | None]:
        """The profiled run's layers, from its log and the files it wrote, pulled back."""
        with tempfile.TemporaryDirectory(prefix="mbv3bench-pulled-") as tmp:
            pulled = [self._pull(remote, Path(tmp)) for remote in binary.writes(model)]
            try:
                return binary.layers(log, job, pulled)
            except Exception as e:   # a file from the phone, read by a runtime's own parser: any error it raises
                raise MeasurementError(f"{binary.name}'s profile of {job.variant} on {self.where} is unreadable: "
                                       f"{one_line(e, typed=True)}") from None

    def measure(self, job: Job) -> RawMeasurement:
        binary = self._binary(job.runtime)
        if not job.artifact:
            raise MeasurementError(f"{self.name} measures model files, not {job.variant} ({job.runtime})")
        artifact = Path(job.artifact)
        model = self._ensure(artifact, f"{self.workdir}/{artifact.name}")
        self._written.update(binary.writes(model))
        timeout = 2 * job.protocol["max_secs"] + 120  # warm-up and timed runs each stop at max_secs; plus loading
        what = f"the measurement of {job.variant}"
        cooldowns = []
        before = self._state(what)
        hot = self._too_hot(before, after_run=False)  # the gate: a hot phone cools down before it measures
        for attempt in range(MAX_ATTEMPTS):
            if hot:
                record, before = self._cool_down(hot, what)
                cooldowns.append(record)
            log, timing = self._benchmark(binary, job, model, False, what, timeout)
            after = self._state(what)
            hot = self._too_hot(before, after_run=False) or self._too_hot(after, after_run=True)
            if not hot or attempt == MAX_ATTEMPTS - 1:
                break
        runs, ops, profiled_run_ms = [timing], [], None
        if job.per_layer and job.protocol.get("profile_runs"):
            profiled, record = self._benchmark(binary, job, model, True, f"the per-layer profile of {job.variant}",
                                               timeout)
            ops, profiled_run_ms = self._layers(binary, profiled, job, model)
            runs.append(record)
        state = self._device_state(job, before, after, cooldowns, hot, runs)
        return RawMeasurement(summary={**log.summary_ms(), "reasons": state.pop("reasons")}, ops=ops,
                              profiled_run_ms=profiled_run_ms, device_state=state)

    def _device_state(self, job: Job, before: dict, after: dict, cooldowns: list, hot: str | None, runs: list) -> dict:
        """What the phone was doing during the timed run, the flags it earns, and the evidence."""
        residency = clock.residency(self.core, before, after)
        affinity = runs[0]["affinity"]
        reasons = [r for r in (
            hot and f"measured while hot: {hot}",
            clock.below_top_reason(residency, self.fixed_performance),
            isinstance(affinity, dict) and not affinity["took"] and
            f"pinning did not take: asked CPU mask {affinity['asked']}, the process ran on {affinity['got']}",
        ) if r]
        for s in (before, after):  # the residency delta says it all, the raw counters would only repeat it
            s.pop("time_in_state", None)
        return {"before": before, "after": after, "cooldowns": cooldowns, "throttled": hot,
                "battery_level": after["battery_level"], "fixed_performance_mode": self.fixed_performance,
                "frequency_residency": residency, "thermal_status": clock.thermal_status(before, after),
                "affinity": affinity, "reasons": reasons,
                "evidence": {"transport": self._link.kind, "route": self._link.route, "serial": self.where,
                             "build_fingerprint": self.info["fingerprint"] or
                             "unavailable: getprop ro.build.fingerprint is empty",
                             "binary": self.binary_facts[job.runtime], "runs": runs}}
