"""A healthy store that cannot be written (read-only filesystem, immutable file, full disk, held by
another writer) is said to be what it is, never "damaged"; commands that only read still read it;
and a run whose store fails keeps what it measured in its JSON files. Through the CLI, on real
read-only mounts, immutable files and small tmpfs disks (root only: skipped with the reason elsewhere)."""
import hashlib
import json
import sqlite3
import subprocess
from contextlib import closing, contextmanager

import pytest

from conftest import FIXTURES, SMALL, assert_results_doc
from mbv3bench.core.results import RawMeasurement

LOG = FIXTURES / "07_litert-new-format_xnnpack-ops_fc-fp32-sme2.txt"
READERS = [["table", "--paper-table", "3", "--device", "pixel1"], ["show", "1"],
           ["baseline", "save", "{tmp}/base.json", "--device", "pixel1"]]


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _error_line(code, stderr, exit_code=2):
    lines = stderr.strip().splitlines()
    assert code == exit_code and lines and lines[-1].startswith("error: "), stderr
    assert "Traceback" not in stderr and "damaged" not in stderr
    return lines[-1]


def _mount(*args):
    """Runs mount/umount; skips the test with the reason when this sandbox does not allow it."""
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"{' '.join(args[:3])} is not available here: {done.stderr.strip()[:200]}")


def _unmount(mountpoint):
    """A mount the test made goes, even if something still holds a file there (then the test fails)."""
    if subprocess.run(["umount", str(mountpoint)], capture_output=True).returncode:
        subprocess.run(["umount", "-l", str(mountpoint)], check=True)
        pytest.fail(f"a file on {mountpoint} was left open")


@contextmanager
def read_only_view(folder, mountpoint):
    mountpoint.mkdir()
    _mount("mount", "--bind", str(folder), str(mountpoint))
    try:
        _mount("mount", "-o", "remount,bind,ro", str(mountpoint))
        yield mountpoint
    finally:
        _unmount(mountpoint)


@contextmanager
def small_disk(mountpoint, size="2m"):
    mountpoint.mkdir()
    _mount("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint))
    try:
        yield mountpoint
    finally:
        _unmount(mountpoint)


@contextmanager
def immutable(path):
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"chattr +i is not supported here: {done.stderr.strip()[:200]}")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def fill(disk):
    """Takes every free byte of the disk (a write fails with ENOSPC at the end)."""
    with open(disk / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 16))
                f.flush()
        except OSError:
            pass


def _ingested(cli, db):
    code, _, err = cli("ingest", str(LOG), "--device", "pixel1", "--db", str(db))
    assert code == 0, err
    return db


def _reads(cli, tmp_path, db):
    before = _sha(db)
    for args in READERS:
        code, out, err = cli(*[a.format(tmp=tmp_path) for a in args], "--db", str(db))
        assert code == 0 and "Traceback" not in err, (args, err)
    assert _sha(db) == before


def test_a_store_on_a_read_only_filesystem_is_read_and_said_read_only(cli, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    _ingested(cli, folder / "r.sqlite")
    assert not (folder / "r.sqlite-shm").exists()   # closed cleanly: a reader would have to make one
    with read_only_view(folder, tmp_path / "ro") as ro:
        _reads(cli, tmp_path, ro / "r.sqlite")
        for db in (ro / "r.sqlite", ro / "new.sqlite"):
            line = _error_line(*cli("ingest", str(LOG), "--db", str(db))[::2])
            assert str(db) in line and "read-only filesystem" in line


def test_an_immutable_store_is_read_and_said_read_only(cli, tmp_path):
    db = _ingested(cli, tmp_path / "r.sqlite")
    with immutable(db):
        _reads(cli, tmp_path, db)
        line = _error_line(*cli("ingest", str(LOG), "--device", "pixel2", "--db", str(db))[::2])
        assert str(db) in line and "read-only" in line


def test_a_store_on_a_full_disk_is_said_full(cli, tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        db = _ingested(cli, disk / "r.sqlite")
        fill(disk)
        line = _error_line(*cli("ingest", str(LOG), "--device", "pixel2", "--db", str(db))[::2])
        assert str(db) in line and "disk is full" in line
        (disk / "filler").unlink()
        _reads(cli, tmp_path, db)   # the failed write left the store whole


@contextmanager
def write_transaction(db):
    """Another writer holding the store (what a second `run` or `ingest` does while it stores)."""
    other = sqlite3.connect(db, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO runs (user) VALUES ('someone else')")
        yield
    finally:
        other.close()


def test_a_locked_store_is_waited_for_then_one_line(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MBV3BENCH_DB_TIMEOUT", "0.2")   # the default, 30 s, is README's
    db = _ingested(cli, tmp_path / "r.sqlite")
    with write_transaction(db):
        line = _error_line(*cli("ingest", str(LOG), "--device", "pixel2", "--db", str(db))[::2])
        assert "locked by another process (waited 0.2 s" in line
        _reads(cli, tmp_path, db)   # readers are not held up by a writer


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "1e9"])
def test_a_bad_busy_timeout_is_one_line(cli, tmp_path, monkeypatch, value):
    monkeypatch.setenv("MBV3BENCH_DB_TIMEOUT", value)
    line = _error_line(*cli("ingest", str(LOG), "--db", str(tmp_path / "r.sqlite"))[::2])
    assert "MBV3BENCH_DB_TIMEOUT" in line and "0 to 86400" in line


@pytest.fixture
def fake_measuring(artifact, monkeypatch):
    """Cells "measured" at once, with `during` run while measuring (where a disk fills or a lock is
    taken): the store's side of a run without minutes of timing."""
    from mbv3bench.targets.local import LocalTarget

    during = []

    def measure_groups(self, groups, on_progress=None, on_start=lambda i: None):
        for i, group in enumerate(groups):
            on_start(i)
            for act in during:
                act()
            yield i, [RawMeasurement(samples_ms=[1.0 + 0.01 * i for i in range(20)]) for _ in group.jobs]

    monkeypatch.setattr(LocalTarget, "measure_groups", measure_groups)
    return during


def _run(cli, tmp_path, db, *more):
    out = tmp_path / "elsewhere"
    out.mkdir(exist_ok=True)
    code, stdout, stderr = cli("run", "--models", SMALL, "--runtimes", "litert,torch", "--no-per-layer",
                               "--db", str(db), "--json", str(out / "run.json"), "--out-dir", str(out), *more)
    return code, stdout, stderr, out


def _kept(out, stderr):
    doc = json.loads((out / "run.json").read_text())
    assert_results_doc(doc)
    (results_file,) = out.glob("results-*.json")
    assert json.loads(results_file.read_text()) == doc
    assert str(out / "run.json") in stderr and str(results_file) in stderr
    return doc["results"]


def test_a_disk_filling_during_a_run_keeps_the_measurement(cli, tmp_path, fake_measuring):
    with small_disk(tmp_path / "disk") as disk:
        db = disk / "a.sqlite"
        fake_measuring.append(lambda: fill(disk))
        code, stdout, stderr, out = _run(cli, tmp_path, db)
        line = _error_line(code, stderr, exit_code=3)
        assert str(db) in line and "disk is full" in line
        # the grid stops at the first result the store refuses: what was measured is kept, nothing more is measured
        assert [r["runtime"] for r in _kept(out, stderr)] == ["litert"]
        assert "NOT stored in" in stdout
        (disk / "filler").unlink()
        with closing(sqlite3.connect(db)) as con:   # nothing half-written
            assert con.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 0


def test_a_store_locked_during_a_run_keeps_the_measurement(cli, tmp_path, fake_measuring, monkeypatch):
    monkeypatch.setenv("MBV3BENCH_DB_TIMEOUT", "0.2")
    db = tmp_path / "a.sqlite"
    held = []
    fake_measuring.append(lambda: held.append(write_transaction(db)) or held[-1].__enter__())
    try:
        code, stdout, stderr, out = _run(cli, tmp_path, db)
    finally:
        for h in held:
            h.__exit__(None, None, None)
    assert "locked by another process" in _error_line(code, stderr, exit_code=3)
    assert len(_kept(out, stderr)) == 1


def test_each_measured_artifact_is_stored_with_its_result(cli, tmp_path, artifact, fake_measuring):
    db = tmp_path / "a.sqlite"
    code, _, stderr, out = _run(cli, tmp_path, db)
    assert code == 0, stderr
    with closing(sqlite3.connect(db)) as con:
        con.row_factory = sqlite3.Row
        measured = {r["runtime"]: r["artifact_sha256"] for r in con.execute("SELECT * FROM measurements")}
        rows = [dict(r) for r in con.execute("SELECT * FROM artifacts")]
    assert measured == {"litert": artifact.sha256, "torch": None}   # torch measures no file
    (row,) = rows
    assert (row["sha256"], row["variant"], row["format"]) == (artifact.sha256, SMALL, "tflite")
    assert (row["path"], row["size"]) == (str(artifact.path), artifact.path.stat().st_size)
    assert json.loads(row["exporter"]) == artifact.exporter and row["exporter"] != "null"
    assert row["max_abs_err"] == artifact.check["max_abs_err"]
    code, _, stderr, _ = _run(cli, tmp_path, db)   # measured again: one row per file still
    assert code == 0, stderr
    with closing(sqlite3.connect(db)) as con:
        assert con.execute("SELECT COUNT(*) FROM artifacts").fetchone()[0] == 1


@pytest.mark.parametrize("slower, exit_code", [(1.0, 3), (1.2, 1)])
def test_a_store_locked_while_compare_ab_measures_keeps_the_verdict(cli, tmp_path, artifact, monkeypatch, slower,
                                                                     exit_code):
    """The verdict is printed and stands (a regression is still exit 1); the store's refusal is one
    line after it, and exit 3 where nothing else is wrong."""
    from mbv3bench.targets.local import LocalTarget

    monkeypatch.setenv("MBV3BENCH_DB_TIMEOUT", "0.2")
    db = tmp_path / "a.sqlite"
    held = []

    def measure_groups(self, groups, on_progress=None, on_start=lambda i: None):
        held.append(write_transaction(db))
        held[-1].__enter__()
        for i, group in enumerate(groups):
            on_start(i)
            blocks = [[[f * (1.0 + 0.001 * k) for k in range(8)] for _ in range(3)] for f in (1.0, slower)]
            yield i, [RawMeasurement(samples_ms=[ms for p in b for ms in p], blocks_ms=b,
                                     process_medians_ms=[p[4] for p in b], rounds={"processes": 3}) for b in blocks]

    monkeypatch.setattr(LocalTarget, "measure_groups", measure_groups)
    try:
        code, stdout, stderr = cli("compare", "--ab", SMALL, SMALL, "--db", str(db))
    finally:
        for h in held:
            h.__exit__(None, None, None)
    assert code == exit_code, stderr
    assert ("regression" if slower > 1 else "unchanged") in stdout
    (line,) = [x for x in stderr.splitlines() if x.startswith("error:")]
    assert f"NOT stored in {db}" in line and "locked by another process" in line
