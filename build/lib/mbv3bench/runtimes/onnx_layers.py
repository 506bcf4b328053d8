"""ONNX node -> layer attribution: which layer each node (and each node's output tensor) of a file
belongs to, so ONNX Runtime's profiler events can be summed per layer."""
from __future__ import annotations

import re
from pathlib import Path

import onnx


def node_layer(name: str, *, module_paths: bool) -> str | None:
    """The layer a node name belongs to.

    - Files whose node names carry module paths (the legacy torch exporter: any name starts with
      `/`): the first path component (`/bneck3/block/conv/Conv` -> `bneck3`). Nodes outside every
      module (`/Add` at the root, the exporter's own `Identity_30`) belong to no layer -> None.
    - Files from other tools: the first component of a `/`- or `.`-separated name
      (`features.3.conv` -> `features`), else the whole name; an empty name -> None.
    """
    if module_paths:
        parts = name.split("/")
        return parts[1] if name.startswith("/") and len(parts) > 2 else None
    return re.split(r"[/.]", name, maxsplit=1)[0] or None


def onnx_node_layers(model_path: Path) -> dict[str, str]:
    """{node name: layer name} for every node of the file that maps to a layer (see node_layer),
    and {output tensor name: layer} too: ORT names the nodes it rewrites after their output tensor
    (`r_nchwc`), which only a tensor name leads back to in files whose tensors are not named by node."""
    nodes = onnx.load(str(model_path), load_external_data=False).graph.node
    module_paths = any(n.name.startswith("/") for n in nodes)
    layers = {}
    for n in nodes:
        layer = node_layer(n.name, module_paths=module_paths)
        if layer is not None:
            for key in (*n.output, n.name):   # a node's own name wins over a tensor of the same name
                layers[key] = layer
    return layers
