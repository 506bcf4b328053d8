"""An Android phone over ADB (adb-shell, no adb server): TFLite's benchmark_model, one thread,
pinned with taskset to one large core -- the paper's protocol.

Everything that reaches the device shell is quoted with shlex.quote. The v1 shell (all adb-shell
speaks) has no exit status, so every command ends in `; echo __MBV3_RC=$?`.
"""
from __future__ import annotations

import os
import re
import shlex
import sys
import time
from pathlib import Path

from adb_shell import exceptions as adb_exc
from adb_shell.adb_device import AdbDeviceTcp
from adb_shell.auth.keygen import keygen
from adb_shell.auth.sign_pythonrsa import PythonRSASigner

from ..export.artifacts import sha256_file
from .benchmark_log import BenchmarkLogError, parse_benchmark_log
from ..core.errors import DeviceLost, UserError
from ..core.results import Job, OpRow, RawMeasurement
from ..measure.pinned import MeasurementError

DEFAULT_KEY = "~/.config/mbv3bench/adbkey"
CONNECT_TIMEOUT_S = 10
AUTH_TIMEOUT_S = 30       # time for the user to tap "Allow USB debugging" on the phone
QUICK_TIMEOUT_S = 30      # getprop, cat, sha256sum, rm
PUSH_TIMEOUT_S = 300      # a benchmark binary is ~10 MB; USB 2 or Wi-Fi can be slow
POLL_S = 5                # cool-down polling period
MAX_ATTEMPTS = 3          # a measurement and up to two re-measurements after cool-downs
RC = "__MBV3_RC="
USB_HINT = ("USB needs adb-shell's usb extra and libusb: pip install 'mbv3bench[usb]' (and libusb-1.0 from "
            "your OS); or put the phone on TCP (adb tcpip 5555) and pass --serial HOST:5555")
# The link itself failed (as opposed to a command on the device).
LINK_ERRORS = (OSError, adb_exc.TcpTimeoutException, adb_exc.UsbReadFailedError, adb_exc.UsbWriteFailedError,
               adb_exc.InvalidResponseError, adb_exc.InvalidChecksumError, adb_exc.InvalidCommandError,
               adb_exc.AdbConnectionError)


def key_path() -> Path:
    return Path(os.environ.get("MBV3BENCH_ADB_KEY") or DEFAULT_KEY).expanduser()


def _signer() -> PythonRSASigner:
    """Our ADB key, generated once: the phone asks to trust a key once, so it must not change."""
    path = key_path()
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        old = os.umask(0o077)  # the private key must never exist world-readable, not even briefly
        try:
            keygen(str(path))
        finally:
            os.umask(old)
    os.chmod(path, 0o600)
    return PythonRSASigner(Path(f"{path}.pub").read_text(), path.read_text())


def usb_serials() -> list[str]:
    """Serials of the phones on USB; UserError with USB_HINT when USB support is missing."""
    try:
        from adb_shell.transport.usb_transport import UsbTransport
    except ImportError:
        raise UserError(USB_HINT) from None
    try:
        return [t.serial_number for t in UsbTransport.find_all_adb_devices()]
    except Exception as e:  # libusb missing or unusable surfaces as several usb1 error types
        raise UserError(f"cannot list USB devices ({e}); {USB_HINT}") from None


def connect(serial: str | None):
    """An open adb-shell device: TCP for HOST:PORT, else USB (a USB serial, or None for the only phone)."""
    if serial and ":" in serial:
        host, _, port = serial.rpartition(":")
        if not port.isdigit():
            raise UserError(f"--serial {serial!r}: expected HOST:PORT, e.g. 192.168.1.20:5555")
        device = AdbDeviceTcp(host, int(port), default_transport_timeout_s=CONNECT_TIMEOUT_S)
    else:
        usb_serials()  # the one-line hint when USB support is missing
        from adb_shell.adb_device import AdbDeviceUsb
        try:
            device = AdbDeviceUsb(serial=serial, default_transport_timeout_s=CONNECT_TIMEOUT_S)
        except adb_exc.UsbDeviceNotFoundError:
            raise UserError(f"no phone{' ' + serial if serial else ''} on USB (is USB debugging on? a running "
                            "`adb` server holds the phone: stop it with `adb kill-server`)") from None
    where = serial or "USB"
    try:
        device.connect(rsa_keys=[_signer()], auth_timeout_s=AUTH_TIMEOUT_S, read_timeout_s=CONNECT_TIMEOUT_S)
    except adb_exc.DeviceAuthError:
        raise UserError(f"{where} refused our ADB key {key_path()}: accept it on the phone's screen") from None
    except (*LINK_ERRORS, adb_exc.AdbTimeoutError) as e:
        raise UserError(f"cannot reach the phone at {where}: {e or type(e).__name__}") from None
    return device


def shell(device, command: str, timeout: float) -> tuple[int | None, str]:
    """(exit status, output with stderr) of `command`; status None if the output lost its end."""
    out = device.shell(f"{{ {command}; }} 2>&1; echo {RC}$?", transport_timeout_s=timeout,
                       read_timeout_s=timeout, timeout_s=timeout)
    body, _, rc = out.rstrip("\n").rpartition(RC)
    return (int(rc), body) if rc.isdigit() else (None, out)


def _tail(text: str, lines: int = 2) -> str:
    kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(kept)[-300:] or "no output"


def phone_info(device) -> dict:
    props = ("ro.product.model", "ro.board.platform", "ro.soc.model", "ro.product.cpu.abi",
             "ro.build.version.release", "ro.serialno")
    _, out = shell(device, "; ".join(f"getprop {p}" for p in props), QUICK_TIMEOUT_S)
    values = dict(zip(props, out.split("\n")))
    return {"model": values.get("ro.product.model") or None,
            "soc": values.get("ro.soc.model") or values.get("ro.board.platform") or None,
            "platform": values.get("ro.board.platform") or None, "abi": values.get("ro.product.cpu.abi") or None,
            "android": values.get("ro.build.version.release") or None,
            "serialno": values.get("ro.serialno") or None}


_MAX_FREQS = ("for f in /sys/devices/system/cpu/cpu[0-9]*/cpufreq/cpuinfo_max_freq; "
              'do echo "$f $(cat "$f")"; done')


def _state_script(core: int) -> str:
    c = f"/sys/devices/system/cpu/cpu{core}/cpufreq"
    return (f'echo "cur $(cat {c}/scaling_cur_freq)"; echo "cap $(cat {c}/scaling_max_freq 2>/dev/null)"; '
            f'echo "max $(cat {c}/cpuinfo_max_freq)"; '
            'for z in /sys/class/thermal/thermal_zone*; do echo "tz $(cat $z/temp 2>/dev/null) $(cat $z/type 2>/dev/null)"; done; '
            "dumpsys battery | grep -m1 'level:'")


def _parse_state(text: str) -> dict:
    state: dict = {"core_mhz": None, "cap_mhz": None, "max_mhz": None, "temps_c": {}, "battery_level": None}
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word in ("cur", "cap", "max") and rest.strip().isdigit():
            state[{"cur": "core_mhz", "cap": "cap_mhz", "max": "max_mhz"}[word]] = int(rest) / 1000
        elif word == "tz":
            temp, _, kind = rest.partition(" ")
            if re.fullmatch(r"-?\d+", temp):
                value = int(temp) / 1000 if abs(int(temp)) > 1000 else int(temp)  # most zones report m°C
                if 0 < value < 150:  # disabled zones read 0 or nonsense
                    state["temps_c"][kind.strip() or f"zone{len(state['temps_c'])}"] = value
        elif word == "level:" and rest.strip().isdigit():
            state["battery_level"] = int(rest)
    return state


def op_rows_to_layers(log, ops) -> list[OpRow]:
    """One OpRow per Run Order row. Builtin rows name their node index
    (`...:N`); XNNPACK operator rows are matched to TFLite ops by the order walk of tflite_layers."""
    from ..runtimes.litert_capi import ProfileEvent
    from ..runtimes.tflite_layers import ops_of_events

    events, unattributed = [], []
    for i, row in enumerate(log.ops):
        if row.times_called == 0:  # AllocateTensors in LiteRT's table: not part of an inference
            continue
        node = re.search(r":(\d+)$", row.name)
        if node and int(node.group(1)) < len(ops) and ops[int(node.group(1))].op_name == row.node_type:
            events.append(ProfileEvent(row.node_type, 2, 0, 0, int(node.group(1)), i, 0))
        elif row.node_type.startswith(("AllocateTensors", "LiteRT::", "TfLite")):  # runtime work, whole delegates
            unattributed.append(i)
        else:
            events.append(ProfileEvent(row.node_type.removeprefix("Delegate/"), 8, 0, 0, i, i, 0))
    path = {event.md2: op.path if op else () for op, event in ops_of_events(events, ops, "delegate")}
    return [OpRow.in_module(path.get(i, ()), row.name, row.node_type.removeprefix("Delegate/"), row.avg_ms)
            for i, row in enumerate(log.ops) if i in path or i in unattributed]


class AdbTarget:
    kind = "android"

    def __init__(self, profile: dict, *, core: int | None = None, serial: str | None = None,
                 benchmark_binary: str | None = None, cooldown_secs: float | None = None):
        self.name = profile["name"]
        self.profile = profile
        self.where = serial or "USB"
        self.binary = Path(benchmark_binary or profile.get("benchmark_binary") or "").expanduser()
        if not self.binary.is_file():
            raise UserError(f"benchmark_model binary {self.binary} not found: download TFLite's prebuilt Android "
                            "benchmark_model (see README, Phones) or pass --benchmark-binary PATH")
        self.workdir = profile.get("workdir", "/data/local/tmp/mbv3bench")
        self.cooldown_secs = profile.get("cooldown_secs", 120) if cooldown_secs is None else cooldown_secs
        self.thermal_limit_c = profile.get("thermal_limit_c", 50)
        self.warnings: list[str] = []
        self._pushed: dict[str, str] = {}  # device path -> sha256 verified on the device in this run
        self._device = connect(serial)
        try:
            self.info = self._call(phone_info, self._device, what="the device check")
            self.large_cores = self._large_cores()
            if core is not None and core not in self._cpus:
                raise UserError(f"--core {core} is not a CPU of {self.where}; it has {', '.join(map(str, self._cpus))}")
            self.core = self.large_cores[0] if core is None else core
            self._check_profile()
            self._run(f"mkdir -p {shlex.quote(self.workdir)}", QUICK_TIMEOUT_S, "setting up the work directory")
        except BaseException:
            self._drop()  # nobody gets a target to close
            raise

    # ---- the link ---------------------------------------------------------------------

    def _lost(self, what: str, how: str = "disconnected") -> DeviceLost:
        return DeviceLost(f"device {self.where} {how} during {what}; finished measurements are kept; "
                          "reconnect and run again with --resume")

    def _call(self, fn, *args, what: str, timeout: float = QUICK_TIMEOUT_S):
        if self._device is None:
            raise self._lost(what)
        try:
            return fn(*args)
        except (adb_exc.TcpTimeoutException, adb_exc.AdbTimeoutError):
            # A phone that went silent and a command that hung look the same from here; either way
            # the link is in an unknown state, so stop rather than fail every remaining cell.
            self._drop()
            raise self._lost(what, f"did not answer within {timeout:g} s") from None
        except LINK_ERRORS:
            self._drop()
            raise self._lost(what) from None

    def _drop(self) -> None:
        device, self._device = self._device, None
        if device is not None:
            try:
                device.close()
            except LINK_ERRORS:
                pass

    def _run(self, command: str, timeout: float, what: str) -> tuple[int | None, str]:
        return self._call(shell, self._device, command, timeout, what=what, timeout=timeout)

    def close(self) -> None:
        """Removes what this run pushed, and the work directory if that leaves it empty (a profile may
        name a shared directory, so never `rm -r` it); then closes the link."""
        if self._device is None:
            return
        files = " ".join(map(shlex.quote, self._pushed))
        try:
            shell(self._device, f"rm -f {files}; rmdir {shlex.quote(self.workdir)} 2>/dev/null", QUICK_TIMEOUT_S)
        except (*LINK_ERRORS, adb_exc.AdbTimeoutError):
            pass
        self._drop()

    # ---- the device check -------------------------------------------------------------

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        print(f"warning: {message}", file=sys.stderr)

    def _large_cores(self) -> list[int]:
        """The cores at the highest cpuinfo_max_freq (sysfs is the truth; the profile is a default)."""
        _, out = self._run(_MAX_FREQS, QUICK_TIMEOUT_S, "the device check")
        freqs = {int(m.group(1)): int(m.group(2)) for m in re.finditer(r"/cpu(\d+)/cpufreq/\S+ (\d+)", out)}
        self._cpus = sorted(freqs) or list(range(8))
        expected = list(self.profile.get("large_cores") or [])
        if not freqs:
            self._warn(f"{self.where}: cpuinfo_max_freq unreadable; using the profile's large cores {expected}")
            return expected or [self._cpus[-1]]
        measured = sorted(c for c, khz in freqs.items() if khz == max(freqs.values()))
        if expected and measured != sorted(expected):
            self._warn(f"{self.where}: large cores by cpuinfo_max_freq are {measured}, the profile {self.name} "
                       f"says {expected}; using {measured}")
        return measured

    def _check_profile(self) -> None:
        for field, key in (("model", "model"), ("soc_platform", "platform"), ("abi", "abi")):
            want, got = self.profile.get(field), self.info.get(key)
            if want and got and str(want).lower() != got.lower():
                self._warn(f"{self.where} reports {key} {got!r}, the profile {self.name} says {want!r}")
        if self.core not in self.large_cores:
            self._warn(f"core {self.core} is not a large core of {self.where} ({self.large_cores})")

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "serial": self.where, **self.info,
                "core": self.core, "large_cores": self.large_cores,
                "large_cores_profile": self.profile.get("large_cores"),
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
            try:
                self._call(lambda: self._device.push(str(local), remote, st_mode=0o100755,
                                                     transport_timeout_s=PUSH_TIMEOUT_S,
                                                     read_timeout_s=PUSH_TIMEOUT_S),
                           what=f"the push of {local.name}", timeout=PUSH_TIMEOUT_S)
            except (adb_exc.PushFailedError, adb_exc.AdbCommandFailureException) as e:
                raise MeasurementError(f"push of {local} to {self.where}:{remote} refused: {e}") from None
            _, out = self._run(check, QUICK_TIMEOUT_S, f"checking {remote}")
            if not out.startswith(sha):
                raise MeasurementError(f"{remote} on {self.where} does not match {local} after the push "
                                       f"(sha256sum said: {_tail(out, 1)})")
        self._pushed[remote] = sha
        return remote

    def _state(self, what: str) -> dict:
        _, out = self._run(_state_script(self.core), QUICK_TIMEOUT_S, what)
        return _parse_state(out)

    def _too_hot(self, state: dict, after_run: bool) -> str | None:
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

    def _cool_down(self) -> dict:
        start = time.monotonic()
        while True:
            reason = self._too_hot(self._state("a cool-down"), after_run=False)
            waited = time.monotonic() - start
            if not reason or waited >= self.cooldown_secs:
                return {"waited_s": round(waited, 1), "cooled": reason is None}
            time.sleep(min(POLL_S, self.cooldown_secs - waited))

    def _benchmark(self, binary: str, flags: list[str], threads: int, what: str, timeout: float):
        # one thread: the pinned core; more: all large cores
        cores = [self.core] if threads == 1 else self.large_cores
        mask = format(sum(1 << c for c in cores), "x")
        command = " ".join(["taskset", mask, shlex.quote(binary), *map(shlex.quote, flags)])
        rc, out = self._run(command, timeout, what)
        if rc != 0:
            status = "no exit status" if rc is None else f"exit {rc}"
            raise MeasurementError(f"benchmark_model failed on {self.where} ({status}): {_tail(out)}")
        try:
            log = parse_benchmark_log(out)
        except BenchmarkLogError as e:   # no timings, or numbers out of bounds
            raise MeasurementError(f"benchmark_model output on {self.where} is unusable ({e}): {_tail(out)}") from None
        if log.avg_us is None:
            raise MeasurementError(f"benchmark_model printed no average on {self.where}: {_tail(out)}")
        return log

    def measure(self, job: Job) -> RawMeasurement:
        if job.runtime != "litert" or not job.artifact:
            raise MeasurementError(f"{self.name} measures .tflite models with benchmark_model (runtime litert), "
                                   f"not {job.runtime}")
        artifact = Path(job.artifact)
        binary = self._ensure(self.binary, f"{self.workdir}/benchmark_model")
        model = self._ensure(artifact, f"{self.workdir}/{artifact.name}")
        p = job.protocol
        common = [f"--graph={model}", f"--num_threads={job.threads}",
                  f"--use_xnnpack={'true' if job.options.get('xnnpack', True) else 'false'}"]
        timeout = 2 * p["max_secs"] + 120  # warm-up and timed runs each stop at max_secs; plus loading
        what = f"the measurement of {job.variant}"
        cooldowns = []
        for attempt in range(MAX_ATTEMPTS):
            before = self._state(what)
            log = self._benchmark(binary, common + [
                f"--warmup_runs={p['warmup_runs']}", f"--warmup_min_secs={p['warmup_secs']}",
                f"--num_runs={p['runs']}", f"--min_secs={p['min_secs']}", f"--max_secs={p['max_secs']}"],
                job.threads, what, timeout)
            after = self._state(what)
            reason = self._too_hot(before, after_run=False) or self._too_hot(after, after_run=True)
            if not reason or attempt == MAX_ATTEMPTS - 1:
                break
            cooldowns.append({"reason": reason, **self._cool_down()})
        ops, profiled_run_ms = [], None
        if job.per_layer and p.get("profile_runs"):
            profiled = self._benchmark(binary, common + [
                "--warmup_runs=1", "--warmup_min_secs=0", f"--num_runs={p['profile_runs']}", "--min_secs=0",
                f"--max_secs={p['max_secs']}", "--enable_op_profiling=true"],
                job.threads, f"the per-layer profile of {job.variant}", timeout)
            from ..runtimes.tflite_layers import tflite_ops
            ops = op_rows_to_layers(profiled, tflite_ops(artifact))
            profiled_run_ms = profiled.avg_us / 1000 if profiled.avg_us else None
        return RawMeasurement(summary=log.summary_ms(), ops=ops, profiled_run_ms=profiled_run_ms,
                              device_state={"before": before, "after": after, "cooldowns": cooldowns,
                                            "throttled": reason, "battery_level": after["battery_level"]})
