"""An Android phone: TFLite's benchmark_model, one thread, pinned with taskset to one large core --
the paper's protocol -- at a known clock, with the evidence of each run kept.

The phone is reached through android/transport.py (adb server or adb-shell; this file does not
care which). Everything that reaches the device shell is quoted with shlex.quote.
"""
from __future__ import annotations

import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

from ...core.errors import DeviceLost, UserError
from ...export.artifacts import sha256_file
from ...core.results import Job, OpRow, RawMeasurement
from ...measure.adaptive import RoundSink
from ...measure.pinned import MeasurementError
from ...measure.rounds import order_of
from ..base import DeviceTarget, PhoneOptions
from . import binary as bm
from . import clock
from .benchmark_log import BenchmarkLogError, parse_benchmark_log
from .phone import QUICK_TIMEOUT_S, mask, max_freqs_khz, phone_info, top_cores
from .route import open_transport
from .transport import LinkLost, LinkTimeout, PushFailed

PUSH_TIMEOUT_S = 300      # a benchmark binary is ~10 MB; USB 2 or Wi-Fi can be slow
POLL_S = 5                # cool-down polling period
MAX_ATTEMPTS = 3          # a measurement and up to two re-measurements after cool-downs


def _size(path: Path) -> str:
    n = path.stat().st_size
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


class AdbTarget(DeviceTarget):
    kind = "android"

    def __init__(self, profile: dict, core: int | None = None, phone: PhoneOptions = PhoneOptions()):
        self.name = profile["name"]
        self.device_profile = profile
        self.binary = Path(phone.benchmark_binary or profile.get("benchmark_binary") or "").expanduser()
        if not self.binary.is_file():
            raise UserError(f"benchmark_model binary {self.binary} not found: download TFLite's prebuilt Android "
                            "benchmark_model (see README, Phones) or pass --benchmark-binary PATH")
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
            self.binary_facts = self._install_binary()
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

    def _install_binary(self) -> dict:
        """Pushes benchmark_model and asks it for --help: a binary the phone cannot run fails here,
        before any measurement, and its flags say whether it writes CSV op tables."""
        abi = bm.check_abi(self.binary, self.info["abilist"], self.where)
        remote = self._ensure(self.binary, f"{self.workdir}/benchmark_model")
        rc, out = self._run(f"{shlex.quote(remote)} --help", QUICK_TIMEOUT_S, "the benchmark_model check")
        bm.check_runs(rc, out, remote, self.where, self.workdir)
        return {"sha256": self._pushed[remote], "version": bm.version_line(out), "abi": abi or "not ELF (a script)",
                "host_path": str(self.binary.resolve()), "device_path": remote,
                "op_profiling_output": "csv" if bm.supports_csv(out) else
                "text (the binary lists no --op_profiling_output_mode)"}

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "serial": self.where, **self.info,
                "transport": self._link.kind if self._link else None,
                "route": self._link.route if self._link else None,
                "core": self.core, "large_cores": self.large_cores,
                "large_cores_profile": self.device_profile.get("large_cores"),
                "fixed_performance_mode": self.fixed_performance,
                "benchmark_binary": str(self.binary), "warnings": self.warnings}

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
                        "benchmark_model counts no instructions")

    def time_unit(self, jobs: list[Job], *, seed: int, max_secs: float, sink: RoundSink) -> None:
        """One benchmark_model run per cell, in this round's order: each is one block; each run
        stops at the protocol's max_secs."""
        for i in order_of(len(jobs), seed):
            raw = self.measure(replace(jobs[i], per_layer=False))
            sink.take_run(i, raw.summary or {}, raw.device_state)

    def profile(self, jobs: list[Job]) -> list[tuple[list[OpRow], float | None]]:
        # benchmark_model times a token run before its profiled one; that time is not kept
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

    def _benchmark(self, flags: list[str], threads: int, purpose: str, what: str, timeout: float):
        """One pinned benchmark_model run: (the parsed log, its evidence record)."""
        # one thread: the pinned core; more: all large cores
        cpu_mask = mask([self.core] if threads == 1 else self.large_cores)
        command = clock.pinned(cpu_mask, [self.binary_facts["device_path"], *flags])
        rc, out = self._run(command, timeout, what)
        report, out = clock.split_affinity(out)
        record = {"purpose": purpose, "command": command, "exit_code": rc, "output": out,
                  "affinity": clock.affinity(cpu_mask, report)}
        if rc != 0:
            raise MeasurementError(bm.failure(rc, out, self.where))
        try:
            log = parse_benchmark_log(out)
        except BenchmarkLogError as e:   # no timings, or numbers out of bounds
            raise MeasurementError(f"benchmark_model output on {self.where} is unusable ({e}): {clock.tail(out)}") from None
        if log.avg_us is None:
            raise MeasurementError(f"benchmark_model printed no average on {self.where}: {clock.tail(out)}")
        return log, record

    def measure(self, job: Job) -> RawMeasurement:
        if job.runtime != "litert" or not job.artifact:
            raise MeasurementError(f"{self.name} measures .tflite models with benchmark_model (runtime litert), "
                                   f"not {job.runtime}")
        artifact = Path(job.artifact)
        model = self._ensure(artifact, f"{self.workdir}/{artifact.name}")
        p = job.protocol
        common = [f"--graph={model}", f"--num_threads={job.threads}",
                  f"--use_xnnpack={'true' if job.options.get('xnnpack', True) else 'false'}"]
        timeout = 2 * p["max_secs"] + 120  # warm-up and timed runs each stop at max_secs; plus loading
        what = f"the measurement of {job.variant}"
        cooldowns = []
        before = self._state(what)
        hot = self._too_hot(before, after_run=False)  # the gate: a hot phone cools down before it measures
        for attempt in range(MAX_ATTEMPTS):
            if hot:
                record, before = self._cool_down(hot, what)
                cooldowns.append(record)
            log, timing = self._benchmark(common + [
                f"--warmup_runs={p['warmup_runs']}", f"--warmup_min_secs={p['warmup_secs']}",
                f"--num_runs={p['runs']}", f"--min_secs={p['min_secs']}", f"--max_secs={p['max_secs']}"],
                job.threads, "timing", what, timeout)
            after = self._state(what)
            hot = self._too_hot(before, after_run=False) or self._too_hot(after, after_run=True)
            if not hot or attempt == MAX_ATTEMPTS - 1:
                break
        runs, ops, profiled_run_ms = [timing], [], None
        if job.per_layer and p.get("profile_runs"):
            csv = ["--op_profiling_output_mode=csv"] if self.binary_facts["op_profiling_output"] == "csv" else []
            profiled, record = self._benchmark(common + [
                "--warmup_runs=1", "--warmup_min_secs=0", f"--num_runs={p['profile_runs']}", "--min_secs=0",
                f"--max_secs={p['max_secs']}", "--enable_op_profiling=true", *csv],
                job.threads, "op_profile", f"the per-layer profile of {job.variant}", timeout)
            from ...runtimes.tflite_layers import tflite_ops
            from .op_layers import op_rows_to_layers

            ops = op_rows_to_layers(profiled, tflite_ops(artifact))
            profiled_run_ms = profiled.avg_us / 1000 if profiled.avg_us else None
            runs.append(record)
        state = self._device_state(before, after, cooldowns, hot, runs)
        return RawMeasurement(summary={**log.summary_ms(), "reasons": state.pop("reasons")}, ops=ops,
                              profiled_run_ms=profiled_run_ms, device_state=state)

    def _device_state(self, before: dict, after: dict, cooldowns: list, hot: str | None, runs: list) -> dict:
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
                             "binary": self.binary_facts, "runs": runs}}
