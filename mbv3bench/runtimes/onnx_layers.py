"""ONNX node -> module path: which modules hold each node (and each node's output tensor) of a
file, so ONNX Runtime's profiler events can be summed per layer, or per module at any depth."""
from __future__ import annotations

import ast
from pathlib import Path

import onnx

from .grouping import name_path


def node_path(name: str, *, module_paths: bool) -> tuple[str, ...]:
    """The modules holding a node, outermost first (see OpRow.path).

    - Files whose node names carry module paths (the legacy torch exporter: any name starts with
      `/`): the components but the last, the node's own name; each already is a module's full name
      (`/features/features.0/features.0.0/Conv` -> `features`, `features.0`, `features.0.0`). Nodes
      outside every module (`/Add` at the root, the exporter's own `Identity_30`) have none -> ().
    - Files from other tools: the `/`- and `.`-separated prefixes of the name (grouping.name_path).
    """
    if module_paths:
        parts = name.split("/")
        return tuple(parts[1:-1]) if name.startswith("/") else ()
    return name_path(name)


def node_layer(name: str, *, module_paths: bool) -> str | None:
    """The layer of a node: the outermost module holding it (`/bneck3/...` -> `bneck3`), or None."""
    path = node_path(name, module_paths=module_paths)
    return path[0] if path else None


def _scope_path(node: onnx.NodeProto) -> tuple[str, ...] | None:
    """The module path torch's dynamo exporter records beside a node (its names, `node_Conv_12`,
    carry none): name_scopes `['', 'features', 'features.0', 'features.0.1', '<aten op>']`, the
    root module first and the op last. None for a node without a readable record."""
    value = next((p.value for p in node.metadata_props if p.key == "pkg.torch.onnx.name_scopes"), None)
    try:
        scopes = ast.literal_eval(value) if value is not None else None
    except (ValueError, SyntaxError):   # another tool's use of the key: the node's name serves instead
        return None
    return tuple(map(str, scopes[1:-1])) if isinstance(scopes, list) else None


def onnx_node_paths(model_path: Path) -> dict[str, tuple[str, ...]]:
    """{node name: module path} for every node of the file that has one (see node_path and
    _scope_path), and {output tensor name: path} too: ORT names the nodes it rewrites after their
    output tensor (`r_nchwc`), which only a tensor name leads back to in files whose tensors are
    not named by node."""
    nodes = onnx.load(str(model_path), load_external_data=False).graph.node
    scopes = [_scope_path(n) for n in nodes]
    # in a file with scope records, the nodes without one were added by graph passes, not modules
    by_scope = any(scope is not None for scope in scopes)
    module_paths = any(n.name.startswith("/") for n in nodes)
    paths = {}
    for n, scope in zip(nodes, scopes):
        path = (scope or ()) if by_scope else node_path(n.name, module_paths=module_paths)
        if path:
            for key in (*n.output, n.name):   # a node's own name wins over a tensor of the same name
                paths[key] = path
    return paths
