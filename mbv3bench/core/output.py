"""Files the tool writes for the user: strict JSON, and the paths they go to. Every command checks
each output path before any work (check_output, check_folder): not one of the command's inputs, a
regular file or nothing yet, in a folder that takes real bytes; then writes it atomically through
links with the mode the file had (write_atomic, append_text), or under a name no other run takes
(write_new)."""
from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Mapping

from .errors import UserError, shown
from .results import Result


def dumps(doc: Any, indent: int | None = 2) -> str:
    """Strict JSON: a number that is not finite is an error here, never `Infinity` in a file."""
    try:
        return json.dumps(doc, indent=indent, allow_nan=False)
    except ValueError:
        raise UserError(f"refusing to write a non-finite number as JSON: {_first_non_finite(doc)}") from None


def _first_non_finite(doc: Any, path: str = "$") -> str:
    if isinstance(doc, float) and not math.isfinite(doc):
        return f"{path} = {doc}"
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, (list, tuple)) else ()
    for k, v in items:
        found = _first_non_finite(v, f"{path}.{k}" if isinstance(k, str) else f"{path}[{k}]")
        if found:
            return found
    return ""


# Real bytes, a few filesystem blocks allocated and synced: a folder that takes none (a full disk,
# a read-only mount) fails the check, not the write after minutes of measuring. An output larger
# than the room left fails its write, which takes the room before touching the old file.
PROBE_BYTES = 8 * 1024
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
Inputs = Mapping[str, "str | Path | None"]   # what the command reads, by how the user named it: {"--db": path}


def _named(path) -> str:
    text = str(path)
    return text if len(text) <= 200 else shown(text, 200)


def _cannot(what: str, path, e: OSError) -> UserError:
    reason = "disk full" if e.errno in (errno.ENOSPC, errno.EDQUOT) else (e.strerror or str(e)).lower()
    return UserError(f"cannot write {what} {_named(path)}: {reason}")


def _target(path: Path, what: str) -> tuple[Path, os.stat_result | None]:
    """Where PATH's bytes go (a symlink's final target) and its status, None if nothing is there
    yet; anything but a regular file is refused (writing would replace or block on it)."""
    target = Path(os.path.realpath(path))
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return target, None
    except OSError as e:
        raise _cannot(what, path, e) from None
    for test, kind in _KINDS:
        if test(st.st_mode):
            raise UserError(f"{what} {_named(path)} is {kind}, not a regular file: give the path of a file")
    return target, st


def _not_an_input(path: Path, target: Path, what: str, inputs: Inputs) -> None:
    """Refuses an output that is the same file as an input: the same path after resolving links,
    or the same inode (a hard link)."""
    for name, given in inputs.items():
        if given is None:
            continue
        same = Path(os.path.realpath(given)) == target
        if not same:
            try:
                same = os.path.samefile(given, target)
            except OSError:   # an input not there yet (a store the command will create) has no inode
                pass
        if same:
            raise UserError(f"{what} {_named(path)} is {name} {_named(given)}, which this command reads: writing "
                            "it would destroy it; give another path")


def check_not_input(what: str, path: str | Path | None, inputs: Inputs) -> None:
    """Before any work: PATH, a file the command changes in place (a results store), is none of
    its INPUTS (None: no file, e.g. a store on a server)."""
    if path is None:
        return
    _not_an_input(Path(path), Path(os.path.realpath(path)), what, inputs)


def _probe(folder: Path, what: str, path: Path) -> None:
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".mbv3bench-probe-")
        try:
            _write_whole(fd, b"\0" * PROBE_BYTES)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        raise _cannot(what, path, e) from None


def _folder(folder: Path, what: str, path: Path, create: bool) -> None:
    if folder.exists() and not folder.is_dir():
        raise UserError(f"cannot write {what} {_named(path)}: {_named(folder)} is not a folder")
    if not create and not folder.exists():
        raise UserError(f"cannot write {what} {_named(path)}: the folder {_named(folder)} does not exist")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _cannot(what, path, e) from None


def check_output(what: str, *paths: str | Path, inputs: Inputs | None = None, create_folder: bool = False) -> None:
    """Before any work: each of PATHS (the files the option WHAT names) is a regular file or
    nothing yet, is none of the command's INPUTS, and its folder exists (is made, with
    CREATE_FOLDER: a default path) and takes real bytes."""
    probed = set()
    for path in map(Path, paths):
        target, st = _target(path, what)
        _not_an_input(path, target, what, inputs or {})
        _folder(target.parent, what, path, create_folder)
        if st is not None and not os.access(target, os.W_OK):
            raise UserError(f"cannot write {what} {_named(path)}: permission denied")
        if target.parent not in probed:
            _probe(target.parent, what, path)
            probed.add(target.parent)


def check_folder(what: str, folder: str | Path) -> None:
    """Before any work: the folder the option WHAT names exists (or is made) and takes real bytes."""
    folder = Path(folder)
    _folder(folder, what, folder, create=True)
    _probe(folder, what, folder)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_whole(fd: int, data: bytes) -> None:
    """DATA as the whole content of the open file, on disk. The room is taken first: a full disk
    fails before a byte of the file changes."""
    if data:
        try:
            os.posix_fallocate(fd, 0, len(data))
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):   # a filesystem without fallocate: just write
                raise
    view, offset = memoryview(data), 0
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written
    os.ftruncate(fd, offset)
    os.fsync(fd)


def write_atomic(path: str | Path, data: str | bytes, what: str = "file") -> None:
    """PATH's new content, written to a temporary file beside it and renamed over it: a reader
    never sees half a file and two writers never interleave. Through a symlink (the link stays,
    its target changes), keeping the file's mode (a new one gets 0666 less the umask, as any
    program's). A file with hard links is written in place, so every name keeps sharing it."""
    target, st = _target(Path(path), what)
    data = data.encode() if isinstance(data, str) else data
    try:
        if st is not None and st.st_nlink > 1:
            fd = os.open(target, os.O_WRONLY | os.O_NONBLOCK)
            try:
                _write_whole(fd, data)
            finally:
                os.close(fd)
            return
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            try:
                os.fchmod(fd, stat.S_IMODE(st.st_mode) if st else 0o666 & ~_umask())
                if st is not None and (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                    _keep_owner(fd, st)
                _write_whole(fd, data)
            finally:
                os.close(fd)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise _cannot(what, path, e) from None


def _keep_owner(fd: int, st: os.stat_result) -> None:
    try:   # only root may give a file away; anyone else's rename makes it theirs, as any editor's does
        os.fchown(fd, st.st_uid, st.st_gid)
    except PermissionError:
        pass


def append_text(path: str | Path, text: str, what: str = "file") -> None:
    """TEXT added at the end of PATH (a step summary other steps append to as well), made if missing."""
    target, _ = _target(Path(path), what)
    try:
        with open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK, 0o666), "ab") as f:
            f.write(text.encode())
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise _cannot(what, path, e) from None


def write_figure(fig, path: str | Path, what: str = "file", **savefig) -> None:
    """A matplotlib figure rendered in memory (savefig's FORMAT given), then written as write_atomic writes."""
    buf = io.BytesIO()
    fig.savefig(buf, **savefig)
    write_atomic(path, buf.getvalue(), what)


def write_new(directory: str | Path, stem: str, suffix: str, text: str) -> Path:
    """DIR/STEM.SUFFIX, or STEM-2.SUFFIX, ... if another run took the name first (runs finishing in
    the same second): the complete file is linked in under the first free name, never overwritten."""
    directory = Path(directory)
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{stem}.", suffix=".tmp")
    except OSError as e:
        raise _cannot("into", directory, e) from None
    try:
        try:
            os.fchmod(fd, 0o666 & ~_umask())
            _write_whole(fd, text.encode())
        finally:
            os.close(fd)
        for i in range(1, 10_000):
            path = directory / (f"{stem}{suffix}" if i == 1 else f"{stem}-{i}{suffix}")
            try:
                os.link(tmp, path)
                return path
            except FileExistsError:
                continue
        raise UserError(f"{_named(directory)}: no free name for {stem}{suffix}")
    except OSError as e:
        raise _cannot("into", directory, e) from None
    finally:
        Path(tmp).unlink(missing_ok=True)



def num(value: float | int | None, spec: str = ".3f") -> str:
    """A number as text, or n/a where the source has none (a phone log has no interval, a
    profiler-only log no end-to-end time): every table renders missing numbers this way."""
    return "n/a" if value is None else format(value, spec)


LAYER_CSV_COLUMNS = ("variant", "runtime", "format", "device", "threads", "core", "layer", "op", "ms",
                     "end_to_end_ms", "end_to_end_statistic")


def layers_csv(results: list[Result]) -> str:
    """One row per layer of every result, beside its end-to-end figure."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(LAYER_CSV_COLUMNS)
    for r in results:
        e2e, statistic = r.headline()
        for row in r.per_layer:
            w.writerow([r.variant, r.runtime, r.format, r.device, r.threads, r.core, row.name, row.op,
                        f"{row.ms:.6f}", "" if e2e is None else f"{e2e:.6f}", statistic])
    return out.getvalue()
