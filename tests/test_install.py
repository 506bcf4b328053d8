"""The package as a user installs it: a wheel, not this checkout. Its specs, device profiles and
reference data ship inside it, and a user's own folders are found beside them."""
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel `pip wheel .` builds, installed (not editable) into a folder of its own; commands
    run from another folder with only that folder on the path for mbv3bench."""
    root = tmp_path_factory.mktemp("install")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(root / "wheel"), str(REPO)], capture_output=True, text=True, timeout=600)
    if build.returncode != 0 and "No module named" in build.stderr:
        pytest.skip(f"cannot build a wheel here: {build.stderr.strip().splitlines()[-1]}")
    assert build.returncode == 0, build.stderr
    (wheel,) = (root / "wheel").glob("mbv3bench-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(root / "site"),
                    str(wheel)], check=True, capture_output=True, timeout=600)
    workdir = root / "elsewhere"
    workdir.mkdir()

    def run(*args, env=None):
        proc = subprocess.run([sys.executable, "-m", "mbv3bench.cli", *args], capture_output=True, text=True,
                              cwd=workdir, timeout=300,
                              env={**os.environ, "PYTHONPATH": str(root / "site"), **(env or {})})
        return proc.returncode, proc.stdout, proc.stderr

    return root, workdir, run


def test_the_wheel_is_what_runs(installed):
    root, workdir, _ = installed
    where = subprocess.run([sys.executable, "-c", "import mbv3bench; print(mbv3bench.__file__)"], cwd=workdir,
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(root / "site")})
    assert where.stdout.strip().startswith(str(root / "site"))


def test_shipped_specs_profiles_and_reference_data(installed):
    _, workdir, run = installed
    code, out, err = run("models", "--json")
    assert code == 0, err
    assert {"mobilenet_v3_large", "mobilenet_v3_small", "mobilenet_v2"} <= {m["name"] for m in json.loads(out)}
    code, out, err = run("summary", "mobilenet_v3_small", "--json")
    assert code == 0 and json.loads(out)["params"] == 2_542_856, err
    code, out, err = run("devices", "--json")
    assert code == 0 and {"local", "pixel3"} <= {p["name"] for p in json.loads(out)["profiles"]}, err
    code, out, err = run("table", "--paper-table", "3", "--db", "none.sqlite")
    assert code == 0 and "V3-Large 1.0" in out, err
    assert not (workdir / "none.sqlite").exists()   # reading creates no store


def test_user_folders_add_specs_and_profiles(installed, tmp_path):
    _, _, run = installed
    specs, profiles = tmp_path / "my specs", tmp_path / "my devices"
    specs.mkdir()
    profiles.mkdir()
    spec = (REPO / "models" / "mobilenet_v3_small.yaml").read_text()
    (specs / "my_net.yaml").write_text(spec.replace("name: mobilenet_v3_small", "name: my_net"))
    (profiles / "lab_board.yaml").write_text("name: lab_board\nkind: local\ndescription: the lab's board\n")
    code, out, err = run("--models-dir", str(specs), "summary", "my_net:width=0.75", "--json")
    assert code == 0 and json.loads(out)["variant"] == "my_net:width=0.75", err
    code, out, err = run("summary", "my_net", "--json", env={"MBV3BENCH_MODELS_DIR": str(specs)})
    assert code == 0, err
    code, out, err = run("--devices-dir", str(profiles), "devices", "--json")
    assert code == 0 and "lab_board" in {p["name"] for p in json.loads(out)["profiles"]}, err
    code, _, err = run("summary", "my_net")
    assert code == 2 and err.startswith("error: unknown network 'my_net'")
    code, _, err = run("--models-dir", str(tmp_path / "nope"), "models")
    assert code == 2 and err.strip() == f"error: --models-dir {tmp_path / 'nope'}: not a folder"


def test_the_schemas_ship_and_check_what_is_read(installed, tmp_path):
    _, _, run = installed
    table = REPO / "reports" / "reference" / "lut" / "ofa_mobilenet_v3-160.json"
    code, out, err = run("lut", "predict", "ofa_mobilenet_v3:res=160", "--lut", str(table))
    assert code == 0 and " ms " in out, err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": 1, "device": {"name": "local"}, "results": [{"variant": 1}]}))
    code, _, err = run("baseline", "show", str(bad))
    assert code == 2 and f"{bad}: results[0]" in err, err
