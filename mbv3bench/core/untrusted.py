"""Reading what a user hands the tool without trusting it: files are read up to a stated limit
(never whole just to look at their first bytes), text that is not UTF-8 is one line naming the
file, and numbers are bounded and finite before anything stores or multiplies them."""
from __future__ import annotations

import codecs
import math
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import yaml

from . import plain_yaml
from .errors import UserError, one_line, shown
from .resources import display

MiB = 1 << 20
_INTEGER = re.compile(r"[-+]?\d{1,30}")   # longer digit strings are refused before int() sees them
_NUMBER_CHARS = 64                         # no real number is written with more characters


def _mib(n: int) -> str:
    return f"{n / MiB:,.1f} MiB" if n >= MiB else f"{n:,} bytes"


def _too_big(path: Path, what: str, limit: int, size: int | None = None) -> UserError:
    size_text = f" ({_mib(size)})" if size is not None else ""
    return UserError(f"{display(path)}: {what}{size_text} is larger than the {_mib(limit)} limit")


def _cannot_read(path: Path, e: OSError) -> UserError:
    return UserError(f"{display(path)}: cannot read ({e.strerror or one_line(e)})")


def check_size(path: Path, limit: int, what: str) -> int:
    """The file's size, refused above `limit`: for files a library (onnx, LiteRT) reads itself.
    Only a regular file has a size to trust; a device or a pipe could stream without end."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise _cannot_read(Path(path), e) from None
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"{display(Path(path))}: not a regular file")
    if st.st_size > limit:
        raise _too_big(Path(path), what, limit, st.st_size)
    return st.st_size


def read_bytes(path: Path, limit: int, what: str) -> bytes:
    """The whole file, refused above `limit`. It reads at most limit + 1 bytes rather than trusting
    the size, so a pipe or a file that grows while read is bounded too."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                raise _too_big(path, what, limit, size)
            data = f.read(limit + 1)
    except OSError as e:
        raise _cannot_read(path, e) from None
    if len(data) > limit:
        raise _too_big(path, what, limit)
    return data


def read_head(path: Path, n: int) -> bytes:
    """The first `n` bytes (fewer if the file is shorter)."""
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as e:
        raise _cannot_read(Path(path), e) from None


def read_text(path: Path, limit: int, what: str) -> str:
    """The file as UTF-8 text (a byte-order mark, as spreadsheet programs write, is dropped)."""
    data = read_bytes(path, limit, what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise UserError(f"{display(Path(path))}:{line}: {what} is not UTF-8 text "
                        f"(byte 0x{data[e.start]:02x} at offset {e.start})") from None


def text_lines(path: Path, max_bytes: int, what: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line of the file, read one at a time, so a file of millions of
    lines is never held whole and a pipe or /dev/stdin works as well. A line longer than
    `max_bytes` (a file with no line breaks) is refused before more of it is read; a byte-order
    mark is dropped; errors name FILE:LINE."""
    path = Path(path)
    try:
        f = open(path, "rb")
    except OSError as e:
        raise _cannot_read(path, e) from None
    with f:
        n = 0
        while True:
            try:
                raw = f.readline(max_bytes + 1)
            except OSError as e:
                raise _cannot_read(path, e) from None
            if not raw:
                return
            n += 1
            if len(raw) > max_bytes and not raw.endswith(b"\n"):
                raise UserError(f"{display(path)}:{n}: {what} is longer than {max_bytes:,} bytes")
            line = raw.removeprefix(codecs.BOM_UTF8) if n == 1 else raw
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as e:
                raise UserError(f"{display(path)}:{n}: {what} is not UTF-8 text "
                                f"(byte 0x{line[e.start]:02x} at column {e.start + 1})") from None
            yield n, text.rstrip("\r\n")


def read_yaml(path: Path, limit: int, what: str, error: type[UserError] = UserError):
    """A bounded YAML file parsed safely; any problem is one `error` naming the file."""
    text = read_text(path, limit, what)
    try:
        return plain_yaml.load(text)
    except plain_yaml.Refused as e:
        raise error(f"{display(Path(path))}: {e}") from None
    except yaml.YAMLError as e:
        # a marked error's first line is its context ("while scanning ..."): the problem and the line say more
        mark = getattr(e, "problem_mark", None)
        said = "; ".join(x for x in (getattr(e, "context", None), getattr(e, "problem", None)) if x)
        detail = ((f"line {mark.line + 1}: " if mark else "") + (said or one_line(e)))[:200]
        raise error(f"{display(Path(path))}: not valid YAML ({' '.join(detail.splitlines())})") from None


def number(text: str, lo: float, hi: float) -> float:
    """`text` as a float in [lo, hi]; a ValueError whose one-line message names the text otherwise,
    so inf and nan never get past."""
    try:
        value = float(text) if len(text) <= _NUMBER_CHARS else None
    except ValueError:
        value = None
    if value is None:
        raise ValueError(f"{shown(text)} is not a number")
    if not math.isfinite(value):
        raise ValueError(f"{shown(text)} is not a finite number")
    if not lo <= value <= hi:
        raise ValueError(f"{shown(text)} is outside {lo:g}..{hi:g}")
    return value


def integer(text: str, lo: int, hi: int) -> int:
    """`text` as an int in [lo, hi], its length checked before int() (whose cost grows with it)."""
    if not _INTEGER.fullmatch(text.strip()) or not lo <= int(text) <= hi:
        raise ValueError(f"{shown(text)} is not an integer in {lo}..{hi}")
    return int(text)
