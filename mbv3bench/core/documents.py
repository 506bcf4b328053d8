"""Saved JSON documents (results, baselines, lookup tables) read without trusting them: bounded in
size, nested at most MAX_DEPTH deep (counted before parsing, so no parser recursion is ever
reached), every number finite, and the whole checked against the project's JSON Schema. Every
problem is one line naming the file and the key, as a path like `results[3].latency_ms.median`."""
from __future__ import annotations

import functools
import json
import math
import re
from itertools import accumulate
from pathlib import Path
from typing import Any

from .errors import UserError, shown
from .resources import PACKAGE_DATA, display
from .untrusted import read_text

SCHEMAS = PACKAGE_DATA / "schema"
MAX_DEPTH = 64            # the documents this tool writes nest 6 deep
_DIGITS = 30              # an integer literal longer than this is no count or time (int() cost grows with it)
MAX_CONTAINERS = 1_000_000   # arrays and objects; a run of 12 cells and 40 processes holds ~10,000
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def key_path(parts) -> str:
    """A JSON path as a message names a key: `results[3].latency_ms.median`, `blocks["a:b=1"].ms`."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif _NAME.fullmatch(p):
            out += f".{p}" if out else p
        else:
            text = json.dumps(p)
            out += f"[{text if len(text) <= 80 else text[:80] + '...'}]"
    return out or "the document"


def _brackets(text: str) -> bytes:
    """The text's brackets outside strings, in order."""
    return _STRING.sub("", text).encode("utf-8", "replace").translate(None, _NOT_BRACKET)


def nesting_depth(brackets: bytes) -> int:
    """How deep the arrays and objects of these brackets nest. Linear, no recursion."""
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def _first(doc: Any, bad, path: tuple = ()) -> tuple | None:
    """The path of the first value (in document order) for which bad(value) holds. Recursive, which
    is safe: the depth was bounded before parsing."""
    if bad(doc):
        return path
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for k, v in items:
        found = _first(v, bad, (*path, k))
        if found is not None:
            return found
    return None


def read_json(path: str | Path, limit: int, what: str) -> Any:
    """The file parsed as strict JSON: at most `limit` bytes, MAX_DEPTH deep, every number finite."""
    path = Path(path)
    text = read_text(path, limit, what)
    brackets = _brackets(text)
    if len(brackets) > 2 * MAX_CONTAINERS:   # each one a Python object of 50-100 bytes once parsed
        raise UserError(f"{display(path)}: holds {len(brackets) // 2:,} arrays and objects; a {what} holds at most "
                        f"{MAX_CONTAINERS:,}")
    depth = nesting_depth(brackets)
    if depth > MAX_DEPTH:
        raise UserError(f"{display(path)}: nested {depth} levels deep; a {what} nests at most {MAX_DEPTH}")
    odd: list[str] = []   # literals that are no finite number, in document order

    def constant(literal: str) -> float:   # NaN, Infinity, -Infinity
        odd.append(literal)
        return math.nan

    def real(literal: str) -> float:
        value = float(literal)
        if not math.isfinite(value):
            odd.append(literal)
        return value

    def integer(literal: str) -> int | float:
        if len(literal.lstrip("-")) > _DIGITS:
            odd.append(literal)
            return math.inf
        return int(literal)

    try:
        doc = json.loads(text, parse_constant=constant, parse_float=real, parse_int=integer)
    except json.JSONDecodeError as e:
        raise UserError(f"{display(path)}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    if odd:
        where = _first(doc, lambda v: isinstance(v, float) and not math.isfinite(v))
        why = f"has more than {_DIGITS} digits" if odd[0].lstrip("-").isdigit() else "is not a finite number"
        raise UserError(f"{display(path)}: {key_path(where)}: {shown(odd[0], 40)} {why}")
    return doc


@functools.cache
def _validator(schema: str):
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads((SCHEMAS / schema).read_text()))


def _message(error) -> str:
    """jsonschema's message with the offending value cut short (it starts the message in full)."""
    text, value = error.message, repr(error.instance)
    if text.startswith(value):
        text = shown(error.instance) + text[len(value):]
    return text[:300]


def check_schema(doc: Any, schema: str, path: str | Path) -> None:
    """The document against a schema of mbv3bench/data/schema/; a violation is one line naming the
    file and the key."""
    # the first violation in document order (a million bad entries are not all described)
    error = next(_validator(schema).iter_errors(doc), None)
    if error is not None:
        raise at(path, error.absolute_path, _message(error))


def at(path: str | Path, parts, message: str) -> UserError:
    """The one-line error of a document's key: `FILE: results[3].device: message`."""
    return UserError(f"{display(Path(path))}: {key_path(parts)}: {message}")
