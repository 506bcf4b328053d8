"""YAML as a hand-written spec or profile uses it: safe_load's types, with no aliases (one anchor
referenced a few times per level expands to billions of nodes: "billion laughs"), nesting and node
counts far above any real file's, and integers short enough to convert (Python refuses int() past
4,300 digits with a ValueError that is not a YAML error). Refused as the file is read, before any
of it is built."""
from __future__ import annotations

import yaml

MAX_DEPTH = 32          # a spec nests 5 levels deep (space.stages.rows[i][choices])
MAX_NODES = 20_000      # the largest shipped spec has a few hundred
MAX_INT_CHARS = 100     # a digit string per block slot of a space is the longest integer a spec has


class Refused(yaml.YAMLError):
    """Valid YAML this reader does not take; the message says what and on which line."""


def _line(node_or_event) -> str:
    return f"line {node_or_event.start_mark.line + 1}"


class _Loader(yaml.SafeLoader):
    def __init__(self, stream):
        super().__init__(stream)
        self._depth = self._nodes = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise Refused(f"{_line(event)}: aliases (*{event.anchor}) are not allowed: write the value out")
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise Refused(f"{_line(event)}: more than {MAX_NODES:,} values")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise Refused(f"{_line(event)}: nested more than {MAX_DEPTH} levels deep")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_int(self, node):
        if len(node.value) > MAX_INT_CHARS:
            raise Refused(f"{_line(node)}: an integer of {len(node.value):,} characters "
                          f"(at most {MAX_INT_CHARS}; quote it if it is text)")
        return super().construct_yaml_int(node)


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


def load(text: str):
    """The document in `text`; a yaml.YAMLError (Refused for what is refused) otherwise."""
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
