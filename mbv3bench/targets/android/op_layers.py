"""benchmark_model's op rows as the paper's layers."""
from __future__ import annotations

import re

from ...core.results import OpRow


def op_rows_to_layers(log, ops) -> list[OpRow]:
    """One OpRow per Run Order row. Builtin rows name their node index (`...:N`);
    XNNPACK operator rows are matched to TFLite ops by the order walk of tflite_layers."""
    from ...runtimes.litert_capi import ProfileEvent
    from ...runtimes.tflite_layers import ops_of_events

    events, unattributed = [], []
    for i, row in enumerate(log.ops):
        if row.times_called == 0:  # AllocateTensors in LiteRT's table: not part of an inference
            continue
        node = re.search(r":(\d+)$", row.name)
        if node and int(node.group(1)) < len(ops) and ops[int(node.group(1))].op_name == row.node_type:
            events.append(ProfileEvent(row.node_type, 2, 0, 0, int(node.group(1)), i, 0))
        elif row.node_type.startswith(("AllocateTensors", "LiteRT::", "TfLite")):  # runtime work, whole delegates
            unattributed.append(i)
        else:
            events.append(ProfileEvent(row.node_type.removeprefix("Delegate/"), 8, 0, 0, i, i, 0))
    path = {event.md2: op.path if op else () for op, event in ops_of_events(events, ops, "delegate")}
    return [OpRow.in_module(path.get(i, ()), row.name, row.node_type.removeprefix("Delegate/"), row.avg_ms)
            for i, row in enumerate(log.ops) if i in path or i in unattributed]
