"""How per-layer rows are grouped: the containers of a model's blocks found from the ops' module
paths, or a depth asked for, or one row per op."""
import json

import pytest

from mbv3bench.runtimes.base import OpRow
from mbv3bench.runtimes.grouping import Grouping, choose_grouping, containers, group_at, name_path, op_rows


def torch_path(qualified: str) -> tuple[str, ...]:
    """The path of a module by its qualified name, the way the runtimes report it."""
    parts = qualified.split(".")
    return tuple(".".join(parts[:i]) for i in range(1, len(parts) + 1))


def torchvision_mobilenet_v3_small() -> list[tuple[str, ...]]:
    """Module paths of the ops of torchvision's MobileNetV3-Small: 13 blocks of 3 to 12 ops in
    `features`, then `avgpool` and a `classifier` of two linears and an activation."""
    ops_per_block = [3, 5, 6, 6, 12, 12, 12, 12, 12, 12, 12, 12, 3]
    paths = [torch_path(f"features.{i}.block.{j}") for i, n in enumerate(ops_per_block) for j in range(n)]
    return paths + [("avgpool",)] + [torch_path(f"classifier.{j}") for j in (0, 1, 3)]


def rows(paths, grouping: Grouping) -> list[str]:
    return list(dict.fromkeys(grouping.group(p) for p in paths))


def auto(paths) -> Grouping:
    return choose_grouping(ops(paths), depth=None, per_op=False, paper_layers=False)


def ops(paths) -> list[OpRow]:
    return [OpRow.in_module(p, f"node{i}", "Conv", 1.0) for i, p in enumerate(paths)]


def test_name_path_keeps_the_names_own_separators():
    assert name_path("model/block_1/conv.0/Relu") == ("model", "model/block_1", "model/block_1/conv",
                                                      "model/block_1/conv.0", "model/block_1/conv.0/Relu")
    assert name_path("/features.0") == ("/features", "/features.0")
    assert name_path("Conv_12") == ("Conv_12",)
    assert name_path("") == ()


def test_group_at_a_depth_below_the_path_is_the_path_itself():
    path = torch_path("features.3.0")
    assert [group_at(path, d) for d in (1, 2, 3, 4)] == ["features", "features.3", "features.3.0", "features.3.0"]


def test_torchvision_layout_shows_its_blocks_and_keeps_the_rest_whole():
    paths = torchvision_mobilenet_v3_small()
    assert containers(paths) == ("features",)
    grouping = auto(paths)
    assert (grouping.depth, grouping.auto) == (2, True)
    assert rows(paths, grouping) == [f"features.{i}" for i in range(13)] + ["avgpool", "classifier"]
    # one depth for all, asked for, splits the classifier too
    assert rows(paths, Grouping(2, auto=False))[-3:] == ["classifier.0", "classifier.1", "classifier.3"]
    assert rows(paths, Grouping(1, auto=False)) == ["features", "avgpool", "classifier"]


def test_top_level_blocks_stay_whole():
    # our own networks' shape: no layer holds most of the ops
    layers = ("stem", *(f"bneck{i}" for i in range(1, 12)), "last_conv")
    paths = [torch_path(f"{layer}.block.{j}") for layer in layers for j in range(4)]
    assert containers(paths) == ()
    assert rows(paths, auto(paths)) == list(layers) and auto(paths).depth == 1


def test_wrappers_are_looked_through():
    inner = torchvision_mobilenet_v3_small()
    wrapped = [("model", "model.backbone", *(f"model.backbone.{name}" for name in p)) for p in inner]
    wrapped += [("model", "model.head")] * 3   # beside the backbone, inside the wrapper
    assert containers(wrapped) == ("model", "model.backbone", "model.backbone.features")
    assert rows(wrapped, auto(wrapped)) == ([f"model.backbone.features.{i}" for i in range(13)]
                                            + ["model.backbone.avgpool", "model.backbone.classifier", "model.head"])
    assert auto(wrapped).depth == 4


def test_a_group_with_nothing_below_is_not_split():
    assert containers([("head",)] * 5) == ()


def test_modules_count_not_ops():
    # ORT's reorders and the like are charged to the module before them: more ops, no more blocks
    paths = [torch_path("features.0.0")] * 10 + [("avgpool",), ("classifier",)]
    assert containers(paths) == ()
    assert containers(paths + [torch_path("features.1.0"), torch_path("features.2.0")]) == ("features",)


def test_ops_directly_in_a_container_keep_its_name():
    paths = [("features",)] * 2 + [torch_path(f"features.{i}") for i in range(4)] + [("classifier",)]
    assert containers(paths) == ("features",)
    assert rows(paths, auto(paths)) == ["features"] + [f"features.{i}" for i in range(4)] + ["classifier"]


def test_a_container_holds_more_than_half():
    half = [torch_path(f"a.{i}") for i in range(3)] + [torch_path(f"b.{i}") for i in range(3)]
    assert containers(half) == ()
    assert containers(half + [torch_path("a.3")]) == ("a",)


def test_ops_without_a_path_do_not_count():
    paths = [(), ()] + [torch_path(f"features.{i}") for i in range(3)] + [("classifier",)]
    assert containers(paths) == ("features",)
    assert containers([(), ()]) == () and containers([]) == ()


@pytest.mark.parametrize("depth, per_op, paper, expected", [
    (None, True, False, Grouping(None, auto=False)),
    (None, True, True, Grouping(None, auto=False)),
    (3, False, False, Grouping(3, auto=False)),
    (2, False, True, Grouping(2, auto=False)),
    (None, False, True, Grouping(1, auto=False)),
])
def test_choose_grouping_follows_the_options(depth, per_op, paper, expected):
    assert choose_grouping(ops(torchvision_mobilenet_v3_small()), depth=depth, per_op=per_op,
                           paper_layers=paper) == expected


def test_apply_relabels_ops_with_their_group():
    relabelled = Grouping(2, auto=False).apply(ops([torch_path("features.3.0"), ("avgpool",), ()]) +
                                               [OpRow("bneck1", "bneck1", "Sequential", 1.0)])
    assert [o.layer for o in relabelled] == ["features.3", "avgpool", None, "bneck1"]
    assert [o.node for o in relabelled] == ["node0", "node1", "node2", "bneck1"]


@pytest.mark.parametrize("grouping, paper, words", [
    (Grouping(None, auto=False), False, "per op"),
    (Grouping(1, auto=False), True, "per paper layer"),
    (Grouping(2, auto=True, within=("features",)), False, "depth 2 in features (chosen automatically)"),
    (Grouping(1, auto=True), False, "depth 1 (chosen automatically)"),
    (Grouping(1, auto=False), False, "depth 1 (--group-depth)"),
])
def test_describe(grouping, paper, words):
    assert words in grouping.describe(paper_layers=paper)


def test_as_dict_round_trips():
    grouping = auto(torchvision_mobilenet_v3_small())
    assert Grouping(**json.loads(json.dumps(grouping.as_dict()))).describe(False) == grouping.describe(False)


def test_op_rows_round_trip():
    op = OpRow.in_module(torch_path("features.0.0"), "/features/features.0/features.0.0/Conv", "Conv", 0.25)
    assert op.layer == "features"
    assert OpRow.from_row(json.loads(json.dumps(op.row()))) == op   # as the worker sends it
    assert OpRow.in_module((), "Identity_3", "Identity", 0.0).layer is None


def test_op_rows_are_never_merged_and_name_their_module():
    path = torch_path("features.8.0")
    rows = op_rows([OpRow.in_module(path, "Convolution (NHWC, QC8) DWConv#0", "Convolution (NHWC, QC8) DWConv", 1.0),
                    OpRow.in_module(path, "Convolution (NHWC, QC8) DWConv#0", "Convolution (NHWC, QC8) DWConv", 2.0),
                    OpRow.in_module(path, "/features/features.8/features.8.0/Conv", "Conv", 3.0),
                    OpRow.in_module((), "Identity_3", "Identity", 4.0)])
    assert [r.name for r in rows] == ["features.8.0: Convolution (NHWC, QC8) DWConv#0"] * 2 + [
        "/features/features.8/features.8.0/Conv", "Identity_3"]
    assert [r.ms for r in rows] == [1.0, 2.0, 3.0, 4.0] and rows[2].op == "Conv"
