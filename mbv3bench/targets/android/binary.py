"""The benchmark_model binary: whether the phone can run it (checked on the host from its ELF header,
then on the phone with `--help`), what it says about itself, and what a failed run means."""
from __future__ import annotations

import re
import signal
from pathlib import Path

from ...core.errors import UserError

# ELF e_machine -> the Android ABI that runs it
ELF_ABI = {183: "arm64-v8a", 40: "armeabi-v7a", 62: "x86_64", 3: "x86", 243: "riscv64"}
# what Android's shells print when exec fails (126 = found but not executable)
NOT_EXECUTABLE = re.compile(r"not executable|exec format error|permission denied|cannot execute", re.I)
_VERSION = re.compile(r"\bversion\b\D{0,20}\d+\.\d+", re.I)


def elf_abi(path: Path) -> str | None:
    """The ABI an ELF file is built for; None for a script or anything that is not ELF."""
    with open(path, "rb") as f:
        head = f.read(20)
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    machine = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
    return ELF_ABI.get(machine, f"ELF machine {machine}")


def check_abi(path: Path, abilist: list[str], where: str) -> str | None:
    """The binary's ABI; UserError when the phone cannot run it."""
    abi = elf_abi(path)
    if abi and abilist and abi not in abilist:
        raise UserError(f"benchmark_model binary {path} is built for {abi}; {where} runs {', '.join(abilist)}: "
                        f"use the android_{'aarch64' if abilist[0] == 'arm64-v8a' else 'arm'} build "
                        "(--benchmark-binary PATH)")
    return abi


def check_runs(rc: int | None, output: str, remote: str, where: str, workdir: str) -> None:
    """After `BINARY --help`: UserError when the phone could not execute the file at all."""
    if rc == 126 or (rc not in (0, None) and NOT_EXECUTABLE.search(first_line(output))):
        raise UserError(f"{where} cannot execute {remote} ({first_line(output)}): is {workdir} on a noexec "
                        "mount such as /sdcard? set the profile's workdir to /data/local/tmp/mbv3bench; "
                        "or the binary is not an Android executable for this phone")


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "no output")[:200]


def version_line(help_output: str) -> str:
    """The line where the binary names its version; TFLite's builds print none, and say so."""
    for line in help_output.splitlines():
        if _VERSION.search(line) and not line.lstrip().startswith("--") and "Unconsumed" not in line:
            return line.strip()
    return "none printed (benchmark_model builds do not report a version; the sha256 identifies it)"


def supports_csv(help_output: str) -> bool:
    """Whether --op_profiling_output_mode is among the flags the binary lists."""
    return "op_profiling_output_mode" in help_output


def failure(rc: int | None, output: str, where: str) -> str:
    """One line for a run that exited non-zero: a crash by its signal, else the exit status."""
    from .clock import tail

    if rc is None:
        return f"benchmark_model lost its exit status on {where}: {tail(output)}"
    if rc > 128:
        try:
            name = signal.Signals(rc - 128).name
        except ValueError:
            name = f"signal {rc - 128}"
        return f"benchmark_model crashed on {where} ({name}, exit {rc}): {tail(output)}"
    return f"benchmark_model failed on {where} (exit {rc}): {tail(output)}"
