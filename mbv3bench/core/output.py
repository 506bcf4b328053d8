"""Files the tool writes for the user: strict JSON, atomically, under names no other run takes."""
from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from .errors import UserError
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


def write_atomic(path: Path, text: str) -> None:
    """Written to a temporary file beside it and renamed: a reader never sees half a file and two
    writers never interleave."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def num(value: float | int | None, spec: str = ".3f") -> str:
    """A number as text, or n/a where the source has none (a phone log has no interval, a
    profiler-only log no end-to-end time): every table renders missing numbers this way."""
    return "n/a" if value is None else format(value, spec)


def write_new(directory: Path, stem: str, suffix: str, text: str) -> Path:
    """DIR/STEM.SUFFIX, or STEM-2.SUFFIX, ... if another run took the name first (runs finishing in
    the same second): the complete file is linked in under the first free name, never overwritten."""
    directory = Path(directory)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        for i in range(1, 10_000):
            path = directory / (f"{stem}{suffix}" if i == 1 else f"{stem}-{i}{suffix}")
            try:
                os.link(tmp, path)
                return path
            except FileExistsError:
                continue
        raise UserError(f"{directory}: no free name for {stem}{suffix}")
    finally:
        Path(tmp).unlink(missing_ok=True)


def check_writable(path: Path, what: str) -> None:
    """Fails before anything is measured: the folder PATH goes into exists (or can be made) and
    takes new files."""
    folder = Path(path).parent if what != "folder" else Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=folder, prefix=".mbv3bench-probe-")
        probe.close()
    except OSError as e:
        raise UserError(f"cannot write {'into ' + str(folder) if what == 'folder' else str(path)}: "
                        f"{e.strerror or e}") from None


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
