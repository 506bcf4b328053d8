"""The device farm on a real Ray cluster (tests/farm_cluster.py: a head and `farm join`s on
127.0.0.1 in a network namespace of this module's own), with simulated phones: the tests' ADB
double on loopback running the benchmark_model stand-in."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO
from farm_cluster import Cluster, NoNamespace, loopback_namespace
from phone_helpers import FAKE_BENCHMARK

pytest.importorskip("ray")

SPACES = REPO / "tests" / "fixtures" / "spaces"
SPACE = "farm_space"
BLOCKS = 10   # farm_space's distinct blocks at res 64
MEASURING = ["--runs", "3", "--min-secs", "0", "--warmup-runs", "1", "--warmup-secs", "0", "--processes", "1",
             "--target-ci", "0", "--export-jobs", "2"]
PROTOCOL = [*MEASURING, "--retries", "0"]   # lut build's
COMMAND_TIMEOUT_S = 900


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    try:
        namespace = loopback_namespace()
        namespace.__enter__()
    except NoNamespace as e:
        pytest.skip(f"no network namespace for a Ray cluster on loopback only: {e}")
    folder = tmp_path_factory.mktemp("farm")
    env = {**os.environ, "MBV3BENCH_MODELS_DIR": str(SPACES), "RAY_USAGE_STATS_ENABLED": "0",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    try:
        c = Cluster(folder, env)
        try:
            yield c
        finally:
            c.stop()
    finally:
        namespace.__exit__(None, None, None)


@pytest.fixture
def phones(cluster):
    """Two simulated Pixel 3s, each offered by a join of its own (two Ray nodes on this host)."""
    from adb_double import AdbDeviceDouble

    with AdbDeviceDouble(serial="FARM0001") as a, AdbDeviceDouble(serial="FARM0002") as b:
        joins = [cluster.join("--device", "pixel3", "--serial", p.address, "--transport", "direct",
                              "--benchmark-binary", str(FAKE_BENCHMARK)) for p in (a, b)]
        try:
            yield {a.address: joins[0], b.address: joins[1]}
        finally:
            for j in joins:
                cluster.leave(j)


def _build(cluster, tmp_path, *extra):
    return cluster.command("lut", "build", "--space", SPACE, "--res", "64", "--runtime", "litert", "--device", "pixel3",
                           "--farm", cluster.address, "-o", str(tmp_path / "t.json"), "--db", str(tmp_path / "t.sqlite"),
                           *PROTOCOL, *extra)


def _stored(db: Path, with_time: bool = False, references: bool = False) -> list[tuple]:
    """(key, device_state[, created_at]) of every block measured in the store (`references`: of
    each device's reference instead), read without writing it."""
    if not db.exists():
        return []
    with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as c:
        try:
            return [(k, json.loads(s or "{}"), *([t] if with_time else [])) for k, s, t, st in
                    c.execute("SELECT key, device_state, created_at, settings FROM measurements")
                    if ("on_device" in json.loads(st)) == references]
        except sqlite3.OperationalError:   # the tables are not made yet
            return []


def _finish(proc, timeout=COMMAND_TIMEOUT_S):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _wait_stored(db: Path, proc, enough) -> list[tuple[str, dict]]:
    while proc.poll() is None:
        rows = _stored(db)
        if enough(rows):
            return rows
        time.sleep(0.2)
    raise AssertionError(f"the build ended (exit {proc.returncode}) first: {proc.stderr.read()[-2000:]}")


def test_status_lists_both_phones_idle(cluster, phones):
    proc = cluster.command("farm", "status", cluster.address, "--json")
    code, out, err = _finish(proc, 120)
    assert code == 0, err
    devices = [d for n in json.loads(out)["nodes"] for d in n["devices"]]
    assert sorted(d["serial"] for d in devices) == sorted(phones)
    assert {d["profile"] for d in devices} == {"pixel3"} and {d["state"] for d in devices} == {"idle"}
    assert len({n["node_id"] for n in json.loads(out)["nodes"]}) == 2   # two joins on one host: two nodes


def test_a_run_says_which_farm_and_devices_measured_it(cluster, phones, tmp_path):
    code, out, err = _finish(cluster.command(
        "run", "--models", f"{SPACE}:block=stem,res=64", "--device", "pixel3", "--farm", cluster.address,
        "--db", str(tmp_path / "r.sqlite"), "--out-dir", str(tmp_path), "--json", str(tmp_path / "r.json"),
        *MEASURING))
    assert code == 0, err
    header = " ".join(out.split())
    assert f"pixel3 on the farm at {cluster.address} (2 device(s):" in header and "core None" not in header
    assert all(serial in header for serial in phones)
    (result,) = json.loads((tmp_path / "r.json").read_text())["results"]
    assert result["device_state"]["serial"] in phones


def test_build_spreads_blocks_over_both_phones_and_misses_none(cluster, phones, tmp_path):
    code, out, err = _finish(_build(cluster, tmp_path))
    assert code == 0, err
    doc = json.loads((tmp_path / "t.json").read_text())
    assert len(doc["blocks"]) == BLOCKS
    assert {b["measured_by"]["serial"] for b in doc["blocks"].values()} == set(phones)
    rows = _stored(tmp_path / "t.sqlite")
    assert len(rows) == BLOCKS and {s["serial"] for _, s in rows} == set(phones)
    assert all(s["host"] for _, s in rows)
    # each phone measured the reference block; each block divided by its phone's speed
    d = doc["devices"]
    assert sorted(s["serial"] for s in d["speeds"]) == sorted(phones) and d["speeds"][0]["speed"] == 1.0
    assert {s["serial"] for _, s in _stored(tmp_path / "t.sqlite", references=True)} == set(phones)
    speed = {s["serial"]: s["speed"] for s in d["speeds"]}
    for b in doc["blocks"].values():
        assert b["ms"] == pytest.approx(b["measured_ms"] / speed[b["measured_by"]["serial"]])
    assert d["spread_pct"] == pytest.approx(100 * (max(speed.values()) / min(speed.values()) - 1))
    assert "spread" in out
    # validated over the farm: the table's error on each phone
    code, out, err = _finish(cluster.command(
        "lut", "validate", "--lut", str(tmp_path / "t.json"), "-n", "2", "--rounds", "1", "--json", "--farm",
        cluster.address, "--device", "pixel3", "--db", str(tmp_path / "t.sqlite"), "--export-jobs", "2"))
    assert code == 0, err
    assert sorted(json.loads(out)["per_device"]) == sorted(phones)
    code, out, err = _finish(cluster.command("farm", "status", cluster.address, "--json"), 120)
    measured = {d["serial"]: d["measured"] for n in json.loads(out)["nodes"] for d in n["devices"]}
    assert sum(measured.values()) >= BLOCKS and all(measured.values())


def test_a_join_killed_mid_build_leaves_every_block_to_the_other(cluster, phones, tmp_path):
    doomed, survivor = list(phones)
    proc = _build(cluster, tmp_path)
    _wait_stored(tmp_path / "t.sqlite", proc, lambda rows: any(s["serial"] == doomed for _, s in rows))
    cluster.kill(phones[doomed])
    killed_at = time.time()
    code, out, err = _finish(proc)
    assert code == 0, err
    doc = json.loads((tmp_path / "t.json").read_text())
    assert len(doc["blocks"]) == BLOCKS
    rows = _stored(tmp_path / "t.sqlite", with_time=True)
    assert len(rows) == len({k for k, _, _ in rows}) == BLOCKS   # every block, none measured twice
    assert {s["serial"] for _, s, _ in rows} == {doomed, survivor}
    after = [s["serial"] for _, s, t in rows if t > killed_at]
    assert survivor in after and doomed not in after[1:]   # one result of the dead phone may arrive as it dies
    assert f"warning: {doomed} (" in err and "was taken out" in err
    assert "(raylet)" not in out   # what Ray says of the dead node goes to stderr, not among the results


def test_interrupted_build_resumed_measures_nothing_twice(cluster, phones, tmp_path):
    db = tmp_path / "t.sqlite"
    proc = _build(cluster, tmp_path)
    before = _wait_stored(db, proc, lambda rows: len(rows) >= 2)
    os.killpg(proc.pid, signal.SIGTERM)
    code, out, err = _finish(proc)
    assert code == 130, err
    assert "run again with --resume" in err
    stored = _stored(db)
    assert len(before) <= len(stored) < BLOCKS
    code, out, err = _finish(_build(cluster, tmp_path, "--resume"))
    assert code == 0, err
    assert f"({BLOCKS - len(stored)} measured, {len(stored)} from the store)" in out
    keys = [k for k, _ in _stored(db)]
    assert len(keys) == len(set(keys)) == BLOCKS


def test_no_device_left_is_one_line_exit_1_and_resume_continues(cluster, tmp_path):
    from adb_double import AdbDeviceDouble

    db = tmp_path / "t.sqlite"
    with AdbDeviceDouble(serial="FARM0003") as phone:
        only = cluster.join("--device", "pixel3", "--serial", phone.address, "--transport", "direct",
                            "--benchmark-binary", str(FAKE_BENCHMARK))
        proc = _build(cluster, tmp_path)
        _wait_stored(db, proc, lambda rows: len(rows) >= 1)
        cluster.kill(only)
        code, out, err = _finish(proc)
    assert code == 1, (out, err, only.log.read_text()[-3000:])
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "no pixel3 device is left" in lines[0] and "--resume" in lines[0]
    assert 1 <= len(_stored(db)) < BLOCKS


def test_status_says_what_a_busy_device_measures_and_how_far(cluster, tmp_path):
    from adb_double import AdbDeviceDouble
    from phone_helpers import fixed_speed_binary

    from mbv3bench.progress import where_it_stands

    def measuring(serial):
        code, out, err = _finish(cluster.command("farm", "status", cluster.address, "--json"), 120)
        assert code == 0, err
        return next(d["measuring"] for n in json.loads(out)["nodes"] for d in n["devices"] if d["serial"] == serial)

    slow = fixed_speed_binary(tmp_path, 200)   # a round of 6 invokes: over a second
    with AdbDeviceDouble(serial="FARMSLOW") as phone:
        join = cluster.join("--device", "pixel3", "--serial", phone.address, "--transport", "direct",
                            "--benchmark-binary", str(slow))
        try:
            proc = cluster.command("run", "--farm", cluster.address, "--device", "pixel3", "--models", "farm_space",
                                   "--no-per-layer", "--db", str(tmp_path / "r.sqlite"), "--out-dir",
                                   str(tmp_path / "out"), "--runs", "5", "--min-secs", "0", "--warmup-runs", "1",
                                   "--warmup-secs", "0", "--processes", "6", "--target-ci", "0")
            seen = None
            while seen is None and proc.poll() is None:
                seen = measuring(phone.address)
            code, out, err = _finish(proc)
            after = measuring(phone.address)
        finally:
            cluster.leave(join)
    assert code == 0, err
    assert seen is not None, "the device never said where its group stood"
    assert seen["labels"] and "farm_space" in seen["labels"][0] and seen["unit"] == "rounds"
    assert seen["phase"] == "timing" and 1 <= seen["done"] < 6 and seen["elapsed_s"] > 0
    assert "rounds done: " in where_it_stands(seen)
    assert after is None   # said no more once the group was done


def test_a_farm_without_the_profile_is_refused_before_measuring(cluster, tmp_path):
    code, out, err = _finish(cluster.command("run", "--farm", cluster.address, "--device", "pixel4", "--models",
                                             "mobilenet_v3_small", "--db", str(tmp_path / "r.sqlite")), 300)
    assert code == 2 and "has no pixel4 device" in err and "farm status" in err
    assert not (tmp_path / "r.sqlite").exists() or not _stored(tmp_path / "r.sqlite")


def test_several_profiles_one_of_which_has_no_device_measure_none(cluster, phones, tmp_path):
    code, out, err = _finish(cluster.command("run", "--farm", cluster.address, "--device", "pixel3,pixel4",
                                             "--models", "mobilenet_v3_small", "--db", str(tmp_path / "r.sqlite")), 300)
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and "has no pixel4 device" in line and "pixel3" not in line and "== pixel3 ==" not in err
    assert not (tmp_path / "r.sqlite").exists() or not _stored(tmp_path / "r.sqlite")


def test_a_farm_address_nothing_listens_on_is_one_line(cli, tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    code, out, err = cli("farm", "status", f"127.0.0.1:{port}")
    assert code == 2 and err.count("\n") == 1 and f"cannot reach the farm at 127.0.0.1:{port}" in err
    code, out, err = cli("farm", "status", "nowhere")
    assert code == 2 and "is not HOST:PORT" in err
    code, out, err = cli("run", "--device", "pixel3,pixel4", "--models", "mobilenet_v3_small")
    assert code == 2 and "several profiles need --farm" in err
    code, out, err = cli("run", "--paper", "--device", "pixel3,pixel4", "--farm", "127.0.0.1:1")
    assert code == 2 and "--paper writes one report of one device" in err


def test_several_profiles_each_get_the_whole_table(cluster, phones, tmp_path):
    from adb_double import AdbDeviceDouble

    with AdbDeviceDouble(serial="FARM0004", model="Pixel 4", soc="sm8150") as pixel4:
        join = cluster.join("--device", "pixel4", "--serial", pixel4.address, "--transport", "direct",
                            "--benchmark-binary", str(FAKE_BENCHMARK))
        try:
            code, out, err = _finish(cluster.command(
                "lut", "build", "--space", SPACE, "--res", "64", "--runtime", "litert", "--device", "pixel3,pixel4",
                "--farm", cluster.address, "-o", str(tmp_path / "t.json"), "--db", str(tmp_path / "t.sqlite"),
                *PROTOCOL))
            assert code == 0, err
            by = {}
            for profile in ("pixel3", "pixel4"):
                doc = json.loads((tmp_path / f"t.{profile}.json").read_text())
                assert doc["device"]["name"] == profile and len(doc["blocks"]) == BLOCKS
                by[profile] = {b["measured_by"]["serial"] for b in doc["blocks"].values()}
            assert by == {"pixel3": set(phones), "pixel4": {pixel4.address}}

            several = ["--device", "pixel3,pixel4", "--farm", cluster.address, "--db", str(tmp_path / "t.sqlite")]
            # each profile's table validated on its own devices, each its own plot
            code, out, err = _finish(cluster.command("lut", "validate", "--lut", str(tmp_path / "t.json"), "-n", "1",
                                                     "--rounds", "1", "--export-jobs", "2", *several))
            assert code == 0, err
            assert "measured end to end" in out and [line for line in err.splitlines() if line.startswith("==")] == [
                "== pixel3 ==", "== pixel4 =="]
            assert ", pixel3: " in out and ", pixel4: " in out
            assert all((tmp_path / f"t.{p}-validate-0.png").is_file() for p in ("pixel3", "pixel4"))
            # and each gets a correction fitted on its own devices
            code, out, err = _finish(cluster.command("lut", "fit", "--lut", str(tmp_path / "t.json"), "-n", "2",
                                                     "--rounds", "1", "--export-jobs", "2", *several))
            assert code == 0, err
            for profile in ("pixel3", "pixel4"):
                doc = json.loads((tmp_path / f"t.{profile}.json").read_text())
                assert doc["device"]["name"] == profile and doc["correction"]["fitted_on"]["n"] == 2
            # A against B on each profile, each table appended to the one summary
            code, out, err = _finish(cluster.command("compare", "--ab", "farm_space", "farm_space:d=1",
                                                     "--summary", str(tmp_path / "summary.md"), *MEASURING[:-2], "--processes", "2",
                                                     *several))   # two rounds: an interval to test
            assert code in (0, 1), err
            summary = (tmp_path / "summary.md").read_text()
            assert summary.index("measured now on pixel3 on the farm") < summary.index("measured now on pixel4 on the farm")
            assert "not compared" not in summary
            # refused before anything is measured: a table one profile lacks, one JSON document
            (tmp_path / "u.pixel3.json").write_text((tmp_path / "t.pixel3.json").read_text())
            code, _, err = _finish(cluster.command("lut", "validate", "--lut", str(tmp_path / "u.json"), *several), 300)
            assert code == 2 and f"--lut {tmp_path / 'u.pixel4.json'}: no such file" in err and "==" not in err
            code, _, err = _finish(cluster.command("lut", "validate", "--lut", str(tmp_path / "t.json"), "--json",
                                                   *several), 300)
            assert code == 2 and "--json prints one document" in err
        finally:
            cluster.leave(join)
