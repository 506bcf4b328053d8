"""Model specs, search spaces and device profiles as a hostile but fair user writes them into
--models-dir / --devices-dir: YAML aliases that expand to billions of nodes, deep nesting, huge
integers, every field with the wrong type or out of range, a space of 200 stages, odd file names.
Each is one `error:` line naming the file and the field, exit 2; the files that could blow up run
in a subprocess with a time limit and an address-space limit, so a hang or a blow-up fails the test
instead of the machine."""
import copy
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from test_hostile_inputs import one_line_error

from mbv3bench.core.resources import BUILTIN_DEVICES, BUILTIN_MODELS, DEVICES_ENV, MODELS_ENV

GiB = 1 << 30
TIMEOUT_S = 20          # a spec is read in well under a second: this only turns a hang into a failure
MEMORY = 4 * GiB

BOMB = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10))
BOMB = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + BOMB


def mbv3bench(*args: str, cwd: Path) -> tuple[int, str, str]:
    """The CLI in its own process, at most TIMEOUT_S seconds and MEMORY bytes of address space."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.pop(MODELS_ENV, None)
    env.pop(DEVICES_ENV, None)
    p = subprocess.run([sys.executable, "-m", "mbv3bench.cli", *args], capture_output=True, text=True,
                       timeout=TIMEOUT_S, preexec_fn=limit, env=env, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def shipped(folder: Path, name: str) -> dict:
    return yaml.safe_load((folder / f"{name}.yaml").read_text())


def rows(row: list, n: int) -> list[list]:
    """n copies of a table row, each its own list: yaml.safe_dump writes one list twice as an alias."""
    return [list(row) for _ in range(n)]


def edited(doc: dict, where: str, value) -> dict:
    """doc with the field at `where` (dotted; a number is a list index) set to value."""
    doc = copy.deepcopy(doc)
    *parents, last = [int(p) if p.isdigit() else p for p in where.split(".")]
    node = doc
    for p in parents:
        node = node[p]
    node[last] = value
    return doc


SMALL_SPEC = edited(shipped(BUILTIN_MODELS, "mobilenet_v3_small"), "name", "mine")
SPACE_SPEC = edited(shipped(BUILTIN_MODELS, "ofa_mobilenet_v3"), "name", "mine")
N_COLUMNS = {**SMALL_SPEC["bneck"], "columns": ["k", "exp", "out", "se", "nl", "s", "n"],
             "rows": [row + [1] for row in SMALL_SPEC["bneck"]["rows"]]}
SPEC_TEXT = (BUILTIN_MODELS / "mobilenet_v3_small.yaml").read_text().replace(
    "name: mobilenet_v3_small", "name: mine")
PROFILE_TEXT = (BUILTIN_DEVICES / "pixel3.yaml").read_text()


# ---- exhausting memory or time: each in a subprocess -------------------------------------------


def two_hundred_stages() -> str:
    doc = copy.deepcopy(SPACE_SPEC)
    doc["space"]["stages"]["rows"] = rows([24, 1, "no", "RE"], 200)
    doc["space"]["default"] = {"d": "4" * 200, "e": "6" * 800, "k": "7" * 800}
    return yaml.safe_dump(doc)


def _short_line_from_a_folder(folder_option: str, tmp_path, text: str, names, command) -> None:
    """mine.yaml holding `text` in a user's folder: one short error naming it and `names`, no store made."""
    (tmp_path / "mine.yaml").write_text(text)
    err = one_line_error(mbv3bench(folder_option, str(tmp_path), *command, cwd=tmp_path),
                         str(tmp_path / "mine.yaml"), *names)
    assert len(err) < 600
    assert not (tmp_path / "r.sqlite").exists()


@pytest.mark.parametrize("text, names", [
    (BOMB + SPEC_TEXT, ["line 2: aliases (*l0) are not allowed"]),
    (SPEC_TEXT.replace("title: MobileNetV3-Small", "title: &t MobileNetV3-Small\nx: *t"), ["aliases (*t)"]),
    ("[" * 100_000, ["nested more than 32 levels deep"]),
    ("a: " + "{a: " * 50_000, ["nested more than 32 levels deep"]),
    ("- " * 50_000 + "x", ["nested more than 32 levels deep"]),
    ("[" + "1, " * 60_000 + "1]", ["more than 20,000 values"]),
    (SPEC_TEXT.replace("resolution: 224", "resolution: " + "9" * 5000), ["line 5: an integer of 5,000 characters"]),
    (SPEC_TEXT.replace("resolution: 224", "resolution: " + "9" * 99), [".resolution: expected an integer in 32..2,048"]),
    (SPEC_TEXT.replace("classes: 1000", "classes: 1" + "0" * 4400), ["an integer of 4,401 characters"]),
    (yaml.safe_dump(edited(SMALL_SPEC, "bneck", N_COLUMNS | {"rows": [[3, 16, 16, "yes", "RE", 2, 10**9]]})),
     [".bneck.rows[1].n: expected an integer in 1..16, got 1000000000"]),
    (SPEC_TEXT.replace("[5, 576,  96, yes, HS, 1]   # bneck11", "[5, 576,  1000000000, yes, HS, 1]"),
     [".bneck.rows[11].out: expected an integer in 1..4,096"]),
    (SPEC_TEXT.replace("title: MobileNetV3-Small", "title: " + "x" * 200_000),
     [".title: expected text of at most 200 characters", "(200,002 characters)"]),
    (SPEC_TEXT + "? " + "k" * 200_000 + "\n: 1\n", ["mine.yaml.'kkkkk", "(200,002 characters): unknown field"]),
    ("x: " + "a" * 300_000, ["is larger than the 262,144 bytes limit"]),
    (two_hundred_stages(), [".space.stages.rows: expected a list of at most 16 rows"]),
])
@pytest.mark.parametrize("command", [["summary", "mine"], ["models"], ["lut", "sample", "--space", "mine"],
                                     ["run", "--models", "mine", "--db", "r.sqlite"]])
def test_a_hostile_spec_is_one_short_line_in_bounded_time_and_memory(tmp_path, text, names, command):
    _short_line_from_a_folder("--models-dir", tmp_path, text, names, command)


@pytest.mark.parametrize("text, names", [
    (BOMB + PROFILE_TEXT, ["line 2: aliases (*l0) are not allowed"]),
    ("[" * 60_000, ["nested more than 32 levels deep"]),
    (PROFILE_TEXT.replace("cooldown_secs: 120", "cooldown_secs: " + "9" * 5000), ["an integer of 5,000 characters"]),
    (PROFILE_TEXT.replace("cooldown_secs: 120", "cooldown_secs: 1e999"), [".cooldown_secs: expected a number in 0..3,600"]),
    (PROFILE_TEXT.replace("description: Google", "description: " + "x" * 60_000 + " Google"),
     [".description: expected text of at most 200 characters"]),
    ("x: " + "a" * 70_000, ["is larger than the 65,536 bytes limit"]),
])
@pytest.mark.parametrize("command", [["run", "--device", "mine", "--db", "r.sqlite"], ["devices"]])
def test_a_hostile_profile_is_one_short_line_in_bounded_time_and_memory(tmp_path, text, names, command):
    _short_line_from_a_folder("--devices-dir", tmp_path, text, names, command)


# ---- every field's type and range: in process (quick) ------------------------------------------

NAN, INF = float("nan"), float("inf")

BAD_SPEC_FIELDS = [
    ("name", 5, "expected text"), ("name", "other", "'other' differs from the file name 'mine'"),
    ("title", ["x"], "expected text"), ("title", None, "missing field 'title'"),
    ("resolution", 0, "expected an integer in 32..2,048, got 0"), ("resolution", -224, "got -224"),
    ("resolution", "224", "got '224'"), ("resolution", 224.5, "got 224.5"), ("resolution", 10**50, "got 1000"),
    ("resolution", True, "got True"), ("resolution", INF, "got inf"),
    ("classes", 0, "expected an integer in 1..100,000, got 0"), ("classes", -1, "got -1"),
    ("dropout", -0.1, "expected a number in 0..1, got -0.1"), ("dropout", NAN, "got nan"), ("dropout", 2, "got 2"),
    ("dropout", "0.2", "got '0.2'"),
    ("knobs", "width", "expected a list"), ("knobs", ["width", "depth"], "knobs[2]: expected one of width, res"),
    ("knobs", [["width"]], "knobs[1]: expected one of"), ("knobs", ["d"], "add a 'space' section"),
    ("se", "yes", "se: expected a mapping, got 'yes'"), ("se.squeeze", "all", "se.squeeze: expected one of expansion/4"),
    ("se.gate", 1, "se.gate: expected one of hardsigmoid, sigmoid, got 1"), ("se", None, "need the 'se' section"),
    ("c4_block", 0, "0 is not a block number (1..11)"), ("c4_block", 99, "99 is not a block number"),
    ("c4_block", "9", "c4_block: expected an integer"),
    ("stem", [1, 2], "stem: expected a mapping of at most 200 items, got [1, 2]"), ("stem.op", "dwconv", "stem.op: expected one of conv2d"),
    ("stem.s", 0, "stem.s: expected an integer in 1..4, got 0"), ("stem.s", -2, "stem.s: "),
    ("stem.k", -3, "stem.k: expected an odd integer in 1..15, got -3"), ("stem.k", 4, "stem.k: expected an odd"),
    ("stem.k", 0, "stem.k: "), ("stem.out", 0, "stem.out: expected an integer in 1..4,096, got 0"),
    ("stem.out", -16, "stem.out: "), ("stem.out", 16.0, "stem.out: "), ("stem.nl", "SWISH", "nonlinearity 'SWISH'"),
    ("stem.nl", [1], "stem.nl: nonlinearity [1] is not allowed"), ("stem.bn", "maybe", "stem.bn: expected yes or no"),
    ("stem.last_channel", 2, "stem.last_channel: expected yes or no, got 2"), ("stem.kernel", 3, "stem.kernel: unknown field"),
    ("bneck", [], "bneck: expected a mapping"), ("bneck.columns", "k", "bneck.columns: expected a list"),
    ("bneck.columns", ["k", "exp", "out", "se", "nl", "k"], "bneck.columns: a column is named twice"),
    ("bneck.columns", ["k", "exp", "out", "se", "nl", "stride"], "bneck.columns[6]: expected one of k, exp"),
    ("bneck.rows", "x", "bneck.rows: expected a list of at most 100 rows"),
    ("bneck.rows", rows([3, 16, 16, "yes", "RE", 1], 101), "bneck.rows: expected a list of at most 100 rows"),
    ("bneck.rows.0", [3, 16], "bneck.rows[1]: expected a list of 6 values"),
    ("bneck.rows.0.0", -3, "bneck.rows[1].k: expected an odd integer in 1..15, got -3"),
    ("bneck.rows.0.0", 2, "bneck.rows[1].k: "), ("bneck.rows.0.1", 0, "bneck.rows[1].exp: expected an integer in 1..4,096"),
    ("bneck.rows.0.2", -16, "bneck.rows[1].out: "), ("bneck.rows.0.3", "maybe", "bneck.rows[1].se: expected yes or no"),
    ("bneck.rows.0.4", "X", "bneck.rows[1].nl: nonlinearity 'X'"), ("bneck.rows.0.5", 0, "bneck.rows[1].s: expected an integer in 1..4"),
    ("bneck.rows.4.5", 10**9, "bneck.rows[5].s: "), ("bneck.k", 4, "bneck.k: expected an odd integer"),
    ("last_conv.out", 0, "last_conv.out: "), ("last_conv", None, "missing field 'last_conv'"),
    ("head_conv.k", 0, "head_conv.k: "), ("head_conv.bn", [], "head_conv.bn: expected yes or no"),
    ("pool", 5, "pool: expected a mapping of at most 200 items, got 5"), ("pool.op", "maxpool", "pool.op: expected one of avgpool"),
    ("unknown", 1, ".unknown: unknown field; allowed: bneck"),
]


@pytest.mark.parametrize("where, value, says", BAD_SPEC_FIELDS)
def test_every_spec_field_is_checked(cli, tmp_path, monkeypatch, where, value, says):
    monkeypatch.setenv(MODELS_ENV, "")   # restored after the test: --models-dir sets it in this process
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(edited(SMALL_SPEC, where, value)))
    one_line_error(cli("--models-dir", str(tmp_path), "summary", "mine"), str(tmp_path / "mine.yaml"), says)


BAD_SPACE_FIELDS = [
    ("space", [1], "space: expected a mapping"),
    ("space.resolutions", [16], "space.resolutions[1]: expected an integer in 32..2,048, got 16"),
    ("space.resolutions", [], "space.resolutions: expected a list of resolutions"),
    ("space.resolutions", list(range(32, 2049)) * 2, "space.resolutions: expected a list of at most 2,048 items"),
    ("space.resolutions.to", 10**9, "space.resolutions.to: expected an integer in 32..2,048"),
    ("space.resolutions.step", 0, "space.resolutions.step: expected an integer in 1..2,048, got 0"),
    ("space.resolutions.step", -4, "space.resolutions.step: "),
    ("space.keys", "mine", "space.keys: expected one of ofa_mbv3, ofa_proxyless"),
    ("space.choices", "all", "space.choices: expected a mapping"),
    ("space.choices.k", [2, 4], "space.stages.rows[1].k[1]: expected an odd integer in 1..9, got 2"),
    ("space.choices.depth", [0, 2], "space.stages.rows[1].depth[1]: expected an integer in 1..9, got 0"),
    ("space.choices.t", [10], "space.stages.rows[1].t[1]: expected an integer in 1..9, got 10"),
    ("space.choices.t", [], "space.stages.rows[1].t: expected a list of choices"),
    ("space.choices.t", list(range(1, 10)) * 2, "space.stages.rows[1].t: expected a list of at most 9 items"),
    ("space.stages.rows", [], "a space needs at least one stage"),
    ("space.stages.rows", rows([24, 1, "no", "RE"], 17), "space.stages.rows: expected a list of at most 16 rows"),
    ("space.stages.rows.0.0", 0, "space.stages.rows[1].out: expected an integer in 1..4,096, got 0"),
    ("space.stages.rows.0.1", 0, "space.stages.rows[1].s: expected an integer in 1..4, got 0"),
    ("space.stages.rows.0.2", 3, "space.stages.rows[1].se: expected yes or no, got 3"),
    ("space.stages.columns", ["out", "s", "se", "nl", "depth", "depth"], "a column is named twice"),
    ("space.default", "x", "space.default: expected a mapping"),
    ("space.default.d", 5.5, "space.default.d: expected a string of at most 20 digits, got 5.5"),
    ("space.default.d", True, "space.default.d: "), ("space.default.e", "6" * 1000, "space.default.e: "),
    ("space.default.d", "55555", "space.default: bad value d='55555'"),
]


@pytest.mark.parametrize("where, value, says", BAD_SPACE_FIELDS)
def test_every_space_field_is_checked(cli, tmp_path, monkeypatch, where, value, says):
    monkeypatch.setenv(MODELS_ENV, "")
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(edited(SPACE_SPEC, where, value)))
    one_line_error(cli("--models-dir", str(tmp_path), "lut", "sample", "--space", "mine"),
                   str(tmp_path / "mine.yaml"), says)


def test_a_space_of_many_fixed_blocks_and_slots_is_refused(cli, tmp_path, monkeypatch):
    monkeypatch.setenv(MODELS_ENV, "")
    doc = edited(SPACE_SPEC, "bneck.rows", rows([3, 1, 16, "no", "RE", 1], 90))
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(doc))
    one_line_error(cli("--models-dir", str(tmp_path), "summary", "mine"), str(tmp_path / "mine.yaml"),
                   "space.stages: 90 fixed blocks and 20 block slots: at most 100 in all")


PIXEL = shipped(BUILTIN_DEVICES, "pixel3")
LOCAL = shipped(BUILTIN_DEVICES, "local")
BAD_PROFILE_FIELDS = [
    (PIXEL, "workdir", 5, "workdir: expected an absolute path on the phone"),
    (PIXEL, "workdir", "tmp/mbv3bench", "workdir: expected an absolute path"),
    (PIXEL, "workdir", "/" + "x" * 2000, "workdir: "),
    (PIXEL, "serial", 12345, "serial: expected an adb serial or HOST:PORT (text: quote a number), got 12345"),
    (PIXEL, "thermal_limit_c", "hot", "thermal_limit_c: expected a number in 20..150, got 'hot'"),
    (PIXEL, "thermal_limit_c", -5, "thermal_limit_c: "), (PIXEL, "thermal_limit_c", NAN, "got nan"),
    (PIXEL, "cooldown_secs", -1, "cooldown_secs: expected a number in 0..3,600"),
    (PIXEL, "cooldown_secs", 1e9, "cooldown_secs: "), (PIXEL, "cooldown_secs", [120], "cooldown_secs: "),
    (PIXEL, "max_thermal_status", 99, "max_thermal_status: expected an integer in 0..6, got 99"),
    (PIXEL, "max_thermal_status", True, "max_thermal_status: "),
    (PIXEL, "large_cores", "4,5", "large_cores: expected a list of at most 1,024 items"),
    (PIXEL, "large_cores", [-1], "large_cores[1]: expected an integer in 0..4,095, got -1"),
    (PIXEL, "large_cores", [4, True], "large_cores[2]: "),
    (PIXEL, "large_cores_mask", 80, "large_cores_mask: expected a hexadecimal taskset mask"),
    (PIXEL, "large_cores_mask", "zz", "large_cores_mask: "),
    (PIXEL, "benchmark_binary", ["x"], "benchmark_binary: expected a path"),
    (PIXEL, "executorch_runner", 7, "executorch_runner: expected a path"),
    (PIXEL, "model", 5, "model: expected text of at most 200 characters, got 5"),
    (PIXEL, "abi", {"a": 1}, "abi: "), (PIXEL, "sdk", "31", "sdk: expected an integer in 1..1,000"),
    (PIXEL, "sdk", 0, "sdk: "), (PIXEL, "description", 3.5, "description: "),
    (PIXEL, "thermal_limit", 40, ".thermal_limit: unknown field; allowed: abi, android"),
    (PIXEL, "core", 4, ".core: unknown field"),
    (PIXEL, "kind", "rootkit", ".kind: 'rootkit' is not allowed; allowed: local, android"),
    (PIXEL, "kind", ["android"], ".kind: ['android'] is not allowed"),
    (LOCAL, "core", -1, "core: expected last or an integer in 0..4,095, got -1"),
    (LOCAL, "core", "first", "core: "), (LOCAL, "threads", 0, "threads: expected an integer in 1..256"),
    (LOCAL, "serial", "x", ".serial: unknown field; allowed: core, description, kind, name, threads"),
]


@pytest.mark.parametrize("profile, where, value, says", BAD_PROFILE_FIELDS)
@pytest.mark.parametrize("command", [["run", "--device", "mine", "--db", "r.sqlite"], ["devices"]])
def test_every_profile_field_is_checked(cli, tmp_path, monkeypatch, profile, where, value, says, command):
    monkeypatch.setenv(DEVICES_ENV, "")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(edited(profile, where, value)))
    one_line_error(cli("--devices-dir", str(tmp_path), *command), str(tmp_path / "mine.yaml"), says)
    assert not (tmp_path / "r.sqlite").exists()


@pytest.mark.parametrize("text, says", [("", "expected a mapping of fields, got None"),
                                        ("- kind: local\n", "expected a mapping of fields, got [{'kind': 'local'}]")])
def test_a_profile_that_is_not_a_mapping_is_one_line(cli, tmp_path, monkeypatch, text, says):
    monkeypatch.setenv(DEVICES_ENV, "")
    (tmp_path / "mine.yaml").write_text(text)
    one_line_error(cli("--devices-dir", str(tmp_path), "run", "--device", "mine", "--db", str(tmp_path / "r.sqlite")),
                   f"{tmp_path / 'mine.yaml'}: {says}")


def test_the_shipped_profiles_and_the_template_pass_the_checks():
    from mbv3bench.targets.profiles import device_names, load_device

    assert {load_device(name)["kind"] for name in device_names()} == {"local", "android"}
    template = yaml.safe_load((BUILTIN_DEVICES / "_template.yaml").read_text())
    assert load_device("pixel3").keys() <= template.keys() | {"name"}


# ---- odd file names in a folder: skipped with a warning, the others listed ---------------------

def _odd_folder(folder: Path, good: str) -> list[str]:
    """A folder with one good file and every kind of file that cannot be a name; the odd ones' names."""
    folder.mkdir()
    (folder / "good.yaml").write_text(good)
    odd = ["a.b.yaml", "x..y.yaml", "with space.yaml", "-dash.yaml"]
    for name in odd:
        (folder / name).write_text(good)
    (folder / "dir.yaml").mkdir()
    (folder / "dangling.yaml").symlink_to(folder / "missing")
    (folder / "_template.yaml").write_text("not: [a, profile")   # "_": a template, neither listed nor warned about
    return odd + ["dir.yaml", "dangling.yaml"]


def test_odd_file_names_in_a_models_folder_are_skipped_with_a_warning(cli, tmp_path, monkeypatch):
    monkeypatch.setenv(MODELS_ENV, "")
    odd = _odd_folder(tmp_path / "m", SPEC_TEXT.replace("name: mine", "name: good"))
    (tmp_path / "m" / "Upper.yaml").write_text(SPEC_TEXT)   # a variant ID's name is lowercase
    code, out, err = cli("--models-dir", str(tmp_path / "m"), "models", "--json")
    assert code == 0, err
    names = [row["name"] for row in json.loads(out)]
    assert "good" in names and "mobilenet_v3_large" in names and not any("." in n or "U" in n for n in names)
    warnings = err.splitlines()
    assert all(w.startswith("warning: skipping ") for w in warnings), err
    for name in odd + ["Upper.yaml"]:
        assert sum(name in w for w in warnings) == 1, (name, err)
    assert "_template" not in err


def test_odd_file_names_in_a_devices_folder_are_skipped_with_a_warning(cli, tmp_path, monkeypatch):
    monkeypatch.setenv(DEVICES_ENV, "")
    odd = _odd_folder(tmp_path / "d", PROFILE_TEXT)
    odd.remove("a.b.yaml")   # a fine profile name: phones are often named by their model, e.g. pixel.7a
    code, out, err = cli("--devices-dir", str(tmp_path / "d"), "devices", "--transport", "server", "--json")
    assert code == 0, err
    names = [p["name"] for p in json.loads(out)["profiles"]]
    assert {"good", "a.b", "pixel3"} <= set(names) and not {"x..y", "with space", "-dash", "dir"} & set(names)
    warnings = err.splitlines()
    assert all(w.startswith("warning: skipping ") for w in warnings), err
    for name in odd:
        assert sum(name in w for w in warnings) == 1, (name, err)


# ---- detection and segmentation specs: a head on a backbone's spec -----------------------------

LRASPP = shipped(BUILTIN_MODELS, "lraspp_mobilenet_v3_large")
SSDLITE = shipped(BUILTIN_MODELS, "ssdlite_mobilenet_v3_large")
LARGE = edited(shipped(BUILTIN_MODELS, "mobilenet_v3_large"), "name", "mine")
BAD_DENSE_FIELDS = [
    (LRASPP, "head.filters", 0, "head.filters: expected an integer in 1..4,096, got 0"),
    (LRASPP, "head.filters", 10**9, "head.filters: "),
    (LRASPP, "head.pool.k", 10**9, "head.pool.k: expected an integer in 1..2,048"),
    (LRASPP, "head.pool.s", [16, -20], "head.pool.s: "), (LRASPP, "head.pool.s", [True, 2], "head.pool.s: "),
    (LRASPP, "head.pool", {"k": [1] * 1000, "s": 1}, "head.pool.k: expected a positive integer or [h, w], got [1, 1"),
    (LRASPP, "head.torchvision.classes", 0, "head.torchvision.classes: expected an integer in 1..100,000"),
    (LRASPP, "resolution", "99999x99999", "resolution: expected an integer in 32..2,048, got 99999"),
    (SSDLITE, "head.anchors", [3, 6, 6, 6, 6, 10**6], "head.anchors[6]: expected an integer in 1..64"),
    (SSDLITE, "head.extra", [512, 0, 256, 128], "head.extra[2]: expected an integer in 1..4,096, got 0"),
    (SSDLITE, "head.extra", list(range(1, 100)), "head.extra: expected a list of at most 16 items"),
    (SSDLITE, "backbone", 5, "backbone: expected text"),
    (LARGE, "torchvision.halved_from", 0, "torchvision.halved_from: expected an integer in 1..100, got 0"),
]


@pytest.mark.parametrize("doc, where, value, says", BAD_DENSE_FIELDS)
def test_every_head_field_is_checked(cli, tmp_path, monkeypatch, doc, where, value, says):
    monkeypatch.setenv(MODELS_ENV, "")
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(edited(edited(doc, "name", "mine"), where, value)))
    one_line_error(cli("--models-dir", str(tmp_path), "summary", "mine"), str(tmp_path / "mine.yaml"), says)


def test_backbones_that_lead_back_to_the_spec_are_one_line(tmp_path):
    for name, backbone in (("aaa", "bbb"), ("bbb", "aaa"), ("self", "self")):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump({**SSDLITE, "name": name, "backbone": backbone}))
    for name in ("aaa", "self"):
        one_line_error(mbv3bench("--models-dir", str(tmp_path), "summary", name, cwd=tmp_path),
                       f"{tmp_path / name}.yaml.backbone: its backbones lead back to this spec")
