"""What every phone binary shares: whether the phone can run it (checked on the host from its ELF
header, then on the phone with `--help`) and what a failed run means. The binaries themselves are
android/phone_binary.py's classes."""
from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Callable

from ...core.errors import UserError

# ELF e_machine -> the Android ABI that runs it
ELF_ABI = {183: "arm64-v8a", 40: "armeabi-v7a", 62: "x86_64", 3: "x86", 243: "riscv64"}
# what Android's shells print when exec fails (126 = found but not executable)
NOT_EXECUTABLE = re.compile(r"not executable|exec format error|permission denied|cannot execute", re.I)


def elf_abi(path: Path) -> str | None:
    """The ABI an ELF file is built for; None for a script or anything that is not ELF."""
    with open(path, "rb") as f:
        head = f.read(20)
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    machine = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
    return ELF_ABI.get(machine, f"ELF machine {machine}")


def check_abi(path: Path, abilist: list[str], where: str, name: str, hint: Callable[[list[str]], str]) -> str | None:
    """The binary's ABI; UserError (ending in `hint(abilist)`, how to get a build for the phone)
    when the phone cannot run it."""
    abi = elf_abi(path)
    if abi and abilist and abi not in abilist:
        raise UserError(f"{name} binary {path} is built for {abi}; {where} runs {', '.join(abilist)}: {hint(abilist)}")
    return abi


def check_runs(rc: int | None, output: str, remote: str, where: str, workdir: str) -> None:
    """After `BINARY --help`: UserError when the phone could not execute the file at all."""
    if rc == 126 or (rc not in (0, None) and NOT_EXECUTABLE.search(first_line(output))):
        raise UserError(f"{where} cannot execute {remote} ({first_line(output)}): is {workdir} on a noexec "
                        "mount such as /sdcard? set the profile's workdir to /data/local/tmp/mbv3bench; "
                        "or the binary is not an Android executable for this phone")


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "no output")[:200]


def failure(name: str, rc: int | None, reason: str, where: str) -> str:
    """One line for a run that exited non-zero: a crash by its signal, else the exit status; `reason`
    is what the run's output says of it."""
    if rc is None:
        return f"{name} lost its exit status on {where}: {reason}"
    if rc > 128:
        try:
            signal_name = signal.Signals(rc - 128).name
        except ValueError:
            signal_name = f"signal {rc - 128}"
        return f"{name} crashed on {where} ({signal_name}, exit {rc}): {reason}"
    return f"{name} failed on {where} (exit {rc}): {reason}"
