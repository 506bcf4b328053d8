"""The package is laid out by layer and imports point down only: a module may import its own layer
or lower ones, never a higher one, and nothing imports in a cycle. Read-only commands never load
torch (it takes seconds and they only read a table)."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, REPO

PACKAGE = REPO / "mbv3bench"
LUT = REPO / "reports" / "reference" / "lut" / "ofa_mobilenet_v3-160.json"
# lowest first; the longest matching prefix decides a module's layer
LAYERS = {
    "mbv3bench.core": 0,
    "mbv3bench.zoo": 1,
    "mbv3bench.runtimes": 2, "mbv3bench.zoo.build": 2,
    "mbv3bench.export": 3,
    "mbv3bench.measure": 4,
    "mbv3bench.targets": 5,
    "mbv3bench.store": 6,
    "mbv3bench.runner": 7,
    "mbv3bench.report": 8, "mbv3bench.compare": 8, "mbv3bench.lut": 8,
    "mbv3bench.ui": 9, "mbv3bench.progress": 9, "mbv3bench.options": 9, "mbv3bench.report.commands": 9,
    "mbv3bench.report.show": 9, "mbv3bench.commands": 9, "mbv3bench.compare.commands": 9,
    "mbv3bench.lut.commands": 9, "mbv3bench.cli": 10,
}


def _module(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    prefix = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len, default=None)
    assert prefix is not None, f"{module} belongs to no layer: add it to LAYERS"
    return LAYERS[prefix]


def _imports(path: Path) -> set[str]:
    """The package modules a file imports, with relative imports resolved."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.startswith("mbv3bench"):
                found |= {f"{base}.{a.name}" if _is_module(f"{base}.{a.name}") else base for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("mbv3bench")}
    return found


def _is_module(name: str) -> bool:
    path = REPO.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


GRAPH = {_module(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def test_imports_point_down_only():
    upward = [f"{m} (layer {_layer(m)}) imports {i} (layer {_layer(i)})"
              for m, imports in GRAPH.items() for i in imports if _layer(i) > _layer(m)]
    assert upward == []


def test_no_import_cycle():
    def visit(m, path):
        if m in path:
            return path[path.index(m):] + [m]
        for i in GRAPH.get(m, ()):
            if i != m and not m.startswith(i + "."):  # a package's __init__ is not a cycle with its modules
                cycle = visit(i, path + [m])
                if cycle:
                    return cycle
        return None

    cycles = [c for m in GRAPH if (c := visit(m, []))]
    assert cycles == []


def test_nothing_asks_a_target_what_it_has():
    """Targets implement targets/base.py: code calls the interface, never probes a target (below
    targets, `target` is a graph node's: runtimes and exporters are left out)."""
    probes = [f"{p.relative_to(REPO)}:{node.lineno}" for p in PACKAGE.rglob("*.py")
              if p != PACKAGE / "__init__.py" and _layer(_module(p)) >= _layer("mbv3bench.measure")
              for node in ast.walk(ast.parse(p.read_text()))
              if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("hasattr", "getattr")
              and node.args and "target" in ast.unparse(node.args[0])]
    assert probes == []


def test_every_target_declares_the_whole_interface():
    from mbv3bench.targets.android.target import AdbTarget
    from mbv3bench.targets.base import Target
    from mbv3bench.targets.local import LocalTarget

    for kind in (LocalTarget, AdbTarget):
        assert issubclass(kind, Target) and not kind.__abstractmethods__, kind


def test_the_checker_sees_an_upward_import():
    assert _layer("mbv3bench.store") > _layer("mbv3bench.measure.protocol")
    assert "mbv3bench.store" in _imports(PACKAGE / "runner.py")


@pytest.mark.parametrize("args", [
    ["table", "--paper-table", "3", "--db", "{tmp}/empty.sqlite"],
    ["plot", "--figure", "1", "-o", "{tmp}/f.png", "--db", "{tmp}/empty.sqlite"],
    ["report", "-o", "{tmp}/report", "--db", "{tmp}/empty.sqlite"],
    ["models"], ["summary", "mobilenet_v3_small"], ["devices", "--json"],
    ["lut", "sample", "--space", "ofa_mobilenet_v3", "-n", "3"],
    ["lut", "predict", "ofa_mobilenet_v3:d=22222,res=160", "--lut", str(LUT)],
    ["ingest", str(FIXTURES / "07_litert-new-format_xnnpack-ops_fc-fp32-sme2.txt"), "--db", "{tmp}/i.sqlite"],
    ["store", "info", "{tmp}/empty.sqlite"], ["store", "copy", "{tmp}/empty.sqlite", "{tmp}/copy.sqlite"],
    ["history", "mobilenet_v3_small", "--db", "{tmp}/empty.sqlite"],
])
def test_read_only_commands_never_import_torch(tmp_path, args):
    code = ("import sys\nfrom mbv3bench.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write('TORCH LOADED' if 'torch' in sys.modules else 'no torch')")
    proc = subprocess.run([sys.executable, "-c", code, *[a.format(tmp=tmp_path) for a in args]],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.stderr.strip().endswith("no torch"), proc.stderr[-500:]
