"""The store and the files the tool writes, treated as a hostile user would: phone logs without
numbers, read-only and damaged stores, a store a newer version wrote, unwritable outputs, runs
finishing at the same moment. Through the CLI: exit code, one line, no traceback, nothing lost."""
import hashlib
import os
import shutil
import stat
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from conftest import FIXTURES, REPO

REFERENCE_DB = REPO / "reports" / "reference" / "results.sqlite"
NO_AVERAGE_LOG = FIXTURES / "04_nnapi-delegate-rows_profile-only_yolov5s-fp32.txt"
FULL_LOG = FIXTURES / "07_litert-new-format_xnnpack-ops_fc-fp32-sme2.txt"


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_error_line(code, stderr, *, exit_code=2):
    lines = stderr.strip().splitlines()
    assert code == exit_code and len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("log", [NO_AVERAGE_LOG, FULL_LOG])
def test_ingested_phone_logs_fill_the_tables(cli, tmp_path, log):
    db = str(tmp_path / "r.sqlite")
    code, _, err = cli("ingest", str(log), "--variant", "mobilenet_v3_large", "--device", "pixel1", "--db", db)
    assert code == 0, err
    for fmt in ("md", "csv", "tex", "json"):
        code, out, err = cli("table", "--paper-table", "3", "--device", "pixel1", "--db", db, "--format", fmt)
        assert code == 0, err
    code, out, _ = cli("table", "--paper-table", "3", "--device", "pixel1", "--db", db)
    assert "n/a" in out or log != NO_AVERAGE_LOG
    code, out, err = cli("report", "--device", "pixel1", "--db", db, "-o", str(tmp_path / "report"))
    assert code == 0, err
    code, out, err = cli("plot", "--figure", "1", "--device", "pixel1", "--db", db, "-o", str(tmp_path / "f.png"))
    assert code in (0, 2) and "Traceback" not in err


def test_reading_commands_leave_the_store_untouched(cli, tmp_path):
    db = tmp_path / "copy.sqlite"
    shutil.copy(REFERENCE_DB, db)
    with sqlite3.connect(db) as con:   # as an older version wrote it: without the newest columns
        con.execute("ALTER TABLE measurements DROP COLUMN notes") if _has(con, "notes") else None
    before = _sha(db)
    for args in (["table", "--paper-table", "3"], ["table", "--paper-table", "5", "--format", "json"],
                 ["plot", "--figure", "layers", "-o", str(tmp_path / "l.png")],
                 ["report", "-o", str(tmp_path / "rep")]):
        code, _, err = cli(*args, "--db", str(db))
        assert code == 0, (args, err)
        assert _sha(db) == before, args
    assert not (tmp_path / "copy.sqlite-wal").exists() or _sha(db) == before


def _has(con, column):
    return column in {r[1] for r in con.execute("PRAGMA table_info(measurements)")}


def test_a_store_a_newer_version_wrote_takes_new_results(cli, tmp_path):
    db = tmp_path / "r.sqlite"
    code, _, err = cli("ingest", str(FULL_LOG), "--db", str(db))
    assert code == 0, err
    with sqlite3.connect(db) as con:
        for table in ("runs", "measurements", "samples", "layers"):
            con.execute(f"ALTER TABLE {table} ADD COLUMN added_by_v9 TEXT DEFAULT 'x'")
    code, out, err = cli("ingest", str(NO_AVERAGE_LOG), "--db", str(db))
    assert code == 0 and "stored in" in out, err
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM measurements").fetchone()[0] == 2
        assert con.execute("SELECT COUNT(*) FROM layers WHERE measurement_id=2").fetchone()[0] > 0


@pytest.mark.parametrize("damage", [b"SQLite format 3\x00" + b"\xff" * 5000, b"garbage" * 1000])
@pytest.mark.parametrize("args", [["table", "--paper-table", "3"], ["report", "-o", "{tmp}/rep"],
                                  ["plot", "--figure", "1", "-o", "{tmp}/f.png"],
                                  ["run", "--models", "mobilenet_v3_small"],
                                  ["ingest", str(FULL_LOG)]])
def test_a_damaged_store_is_one_line_and_not_written(cli, tmp_path, damage, args):
    db = tmp_path / "damaged.sqlite"
    db.write_bytes(damage)
    code, _, err = cli(*[a.format(tmp=tmp_path) for a in args], "--db", str(db))
    line = _one_error_line(code, err)
    assert str(db) in line and "damaged" in line
    assert db.read_bytes() == damage


def test_a_truncated_store_is_one_line(cli, tmp_path):
    db = tmp_path / "cut.sqlite"
    data = REFERENCE_DB.read_bytes()
    db.write_bytes(data[: len(data) // 2])
    code, _, err = cli("table", "--paper-table", "3", "--db", str(db))
    assert "damaged" in _one_error_line(code, err)


@pytest.mark.parametrize("where", ["artifacts_is_a_file", "out_dir_is_a_file", "json_under_a_file"])
def test_unwritable_outputs_fail_before_measuring(cli, tmp_path, monkeypatch, where):
    blocker = tmp_path / "a file"
    blocker.write_text("")
    args = ["run", "--models", "mobilenet_v3_small:res=96", "--db", str(tmp_path / "r.sqlite"),
            "--out-dir", str(tmp_path / "out")]
    if where == "artifacts_is_a_file":
        monkeypatch.setenv("MBV3BENCH_ARTIFACTS", str(blocker))
    elif where == "out_dir_is_a_file":
        args[-1] = str(blocker)
    else:
        args += ["--json", str(blocker / "x.json")]
    code, _, err = cli(*args)
    assert str(blocker) in _one_error_line(code, err)
    assert not (tmp_path / "r.sqlite").exists()   # nothing measured, nothing stored


@pytest.mark.parametrize("args", [["plot", "--figure", "1", "-o", "{blocker}/f.png"],
                                  ["report", "-o", "{blocker}"], ["export", "mobilenet_v3_small", "-o", "{blocker}"]])
def test_unwritable_outputs_of_other_commands(cli, tmp_path, args):
    blocker = tmp_path / "a file"
    blocker.write_text("")
    code, _, err = cli(*[a.format(blocker=blocker) for a in args], "--db", str(tmp_path / "r.sqlite")) \
        if args[0] != "export" else cli(*[a.format(blocker=blocker) for a in args])
    assert str(blocker) in _one_error_line(code, err)


def test_runs_finishing_together_keep_every_results_file(tmp_path):
    """Three processes write results of the same second into one folder: three files, none lost."""
    script = textwrap.dedent(f"""
        import sys
        from mbv3bench.core.output import write_new
        print(write_new(sys.argv[1], "results-20260101-000000", ".json", sys.argv[2] * 100000))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), str(i)], stdout=subprocess.PIPE,
                              text=True) for i in range(3)]
    written = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert len(set(written)) == 3
    assert sorted(p.read_text()[0] for p in tmp_path.glob("results-*.json")) == ["0", "1", "2"]
    umask = os.umask(0)
    os.umask(umask)
    assert {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.glob("results-*.json")} == {0o666 & ~umask}   # not 0600
    assert not list(tmp_path.glob(".*tmp"))


def test_show_prints_a_stored_measurement_and_reads_only(cli, tmp_path):
    db = tmp_path / "r.sqlite"
    code, out, _ = cli("ingest", str(FULL_LOG), "--device", "pixel1", "--db", str(db))
    assert code == 0 and "(id 1)" in out
    before = _sha(db)
    code, out, err = cli("show", "1", "--db", str(db))
    assert code == 0, err
    assert out.startswith("measurement 1: 07_litert-new-format") and "log_format" in out
    code, out, _ = cli("show", "1", "--db", str(db), "--json")
    assert code == 0 and '"schema": 1' in out
    code, _, err = cli("show", "99", "--db", str(db))
    assert f"no measurement 99 in {db}" in _one_error_line(code, err)
    assert _sha(db) == before
