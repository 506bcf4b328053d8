"""`lut predict FILE`: a file of variant IDs, one a line, predicted as it is read and each answer
printed as it comes, so memory stays flat however long the file (see README, Predicting).

A bad line stops the run: what was printed before it stays printed, the error names FILE:LINE and
the exit code is 2. A --json document is then left unclosed on purpose, so no JSON reader takes a
cut-short list of predictions for the whole."""
from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from ..core.errors import UserError, shown
from ..core.output import dumps
from ..core.resources import display
from ..core.untrusted import text_lines
from .predict import Prediction, Predictor
from .render import prediction_doc, prediction_row

MAX_LINE = 4096   # bytes; IDs of the spaces here are ~100 characters: this bounds a file with no line breaks
CHUNK = 1000      # lines written at once from a file: a write per line would cost more than the prediction


def id_file(what: str) -> Path | None:
    """WHAT as a file of IDs, or None when it is an ID. Whatever exists and is not a folder is read
    (a pipe and /dev/stdin too); a name too long to be a path is not an error here but an ID."""
    if os.path.isdir(what):
        raise UserError(f"{shown(what)} is a folder; expected a variant ID or a file of IDs (one a line)")
    if os.path.exists(what):
        return Path(what)
    if re.search(r"[/.]", what.split(":", 1)[0]):   # no variant's name has these: a path was meant
        raise UserError(f"{shown(what)}: no such file, and not a variant ID (NAME[:key=value,...])")
    return None


def read_ids(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, ID) of each line with one; blank lines and # comments skipped."""
    for n, line in text_lines(path, MAX_LINE, "line"):
        text = line.split("#", 1)[0].strip()
        if text:
            yield n, text


def predict_file(path: Path, predictor: Predictor, reference: Prediction | None, lut_path: str, as_json: bool,
                 write: Callable[[str], None]) -> None:
    """Text: `ID  ms  lo  hi [ratio]` a line, tab-separated. JSON: {"lut", "predictions": [...]},
    one prediction a line."""
    pieces = [f'{{"lut": {dumps(str(lut_path))}, "predictions": ['] if as_json else []
    chunk = CHUNK if path.is_file() else 1   # a pipe is answered line by line: its writer may wait for each
    try:
        for count, (n, vid) in enumerate(read_ids(path)):
            try:
                d = prediction_doc(predictor.predict(vid), reference)
            except UserError as e:
                raise UserError(f"{display(path)}:{n}: {e}") from None
            pieces.append((",\n" if count else "\n") + dumps(d, indent=None) if as_json else prediction_row(d) + "\n")
            if len(pieces) >= chunk:
                write("".join(pieces))
                pieces.clear()
        if as_json:
            pieces.append("\n]}\n")
    finally:   # what was predicted before a bad line is printed before its error
        write("".join(pieces))
