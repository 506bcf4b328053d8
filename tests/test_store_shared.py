"""A results store a team shares, through the CLI against a real PostgreSQL server on 127.0.0.1
(tests/pg_server.py): `run` stores there, `table` reads it, `store copy` to SQLite gives the same
table, `report` leaves it unchanged, a URL the tool cannot use is one line before anything is
measured, a lost connection keeps what was committed, and several writers at once lose nothing
(on both backends)."""
import json
import os
import subprocess
import sys

import pytest

from conftest import FAST, REPO, SMALL, raw_sql
from pg_server import PASSWORD
from test_report import fill
from test_store_failures import fake_measuring  # noqa: F401 (a fixture)
from mbv3bench.report.tables import TABLES
from mbv3bench.store import Store

TABLES_COPIED = ("runs", "measurements", "samples", "layers", "artifacts", "calibrations")


def _everything(db) -> dict:
    """Every row of every table, in a stable order: what a reader must leave as it was."""
    return {t: sorted(map(repr, raw_sql(db, f"SELECT * FROM {t}"))) for t in TABLES_COPIED}


def _error_line(code, stderr, exit_code=2):
    lines = stderr.strip().splitlines()
    assert code == exit_code and lines and lines[-1].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[-1]


def _run(cli, tmp_path, db, *more):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return cli("run", "--models", SMALL, "--runtimes", "litert,torch", "--no-per-layer", "--db", db,
               "--out-dir", str(out), *more)


def test_a_run_stores_there_and_every_reader_reads_it_unchanged(cli, pg, tmp_path, fake_measuring):
    url = pg.new_database()
    with Store(url) as store:
        fill(store, TABLES[3].variants)
        store.add_calibration("local", "gemm", 40.0, "GMAC/s", {})
    code, out, err = _run(cli, tmp_path, url)
    assert code == 0, err
    assert f"stored in {url}" in out
    assert raw_sql(url, "SELECT runtime FROM measurements WHERE variant = ? ORDER BY id", args=(SMALL,)) \
        == [("litert",), ("torch",)]
    code, table_pg, err = cli("table", "--paper-table", "3", "--db", url)
    assert code == 0, err
    assert "mobilenet_v3_large" in table_pg and "unmeasured" not in table_pg.split("mobilenet_v3_large")[1][:80]

    before = _everything(url)
    for args in (["report", "-o", str(tmp_path / "report")], ["store", "info", url], ["history", SMALL],
                 ["baseline", "save", str(tmp_path / "b.json")], ["show", "1"]):
        code, _, err = cli(*args, "--db", url) if args[0] != "store" else cli(*args)
        assert code == 0, (args, err)
    assert _everything(url) == before

    copy = str(tmp_path / "copy.sqlite")
    code, out, err = cli("store", "copy", url, copy)
    assert code == 0, err
    assert _everything(copy).keys() == before.keys()
    for t in TABLES_COPIED:
        assert len(raw_sql(copy, f"SELECT * FROM {t}")) == len(before[t]) > 0, t
    code, table_copy, _ = cli("table", "--paper-table", "3", "--db", copy)
    assert table_copy == table_pg
    code, again, err = cli("store", "copy", url, copy)   # idempotent, both ways
    assert code == 0 and "0 measurements (" in again, err
    code, back, err = cli("store", "copy", copy, url)
    assert code == 0 and "0 measurements (" in back and "0 runs (" in back, err
    assert _everything(url) == before

    code, out, err = cli("store", "info", url, "--json")
    info = json.loads(out)
    assert info["backend"] == "postgresql" and info["schema_version"] == 2 and info["size_bytes"] > 0
    assert info["tables"]["measurements"] == len(before["measurements"])
    assert {"device": "local", "runtime": "torch", "variant": SMALL, "ok": 1, "failed": 0} in info["cells"]


def test_history_lists_and_plots_one_cell_over_revisions(cli, store_db, tmp_path):
    with Store(store_db) as store:
        for _ in range(3):
            fill(store, ["mobilenet_v3_small"])
        fill(store, ["mobilenet_v3_small"], "onnxruntime")
        fill(store, ["mobilenet_v3_large"])
    raw_sql(store_db, "UPDATE runs SET git_rev = 'abcdef1234567890' WHERE id = 2")
    code, out, err = cli("history", "mobilenet_v3_small", "--runtime", "litert", "--db", store_db, "--json",
                         "-o", str(tmp_path / "h.png"))
    assert code == 0, err
    doc = json.loads(out)
    rows = doc["results"]
    assert [r["runtime"] for r in rows] == ["litert"] * 3 and rows[1]["git_rev"] == "abcdef1234567890"
    assert all(r["ci95_ms"][0] < r["value_ms"] < r["ci95_ms"][1] for r in rows)
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
    code, out, err = cli("history", "mobilenet_v3_small", "--db", store_db)
    assert code == 0 and "abcdef1234" in out and "onnxruntime" in out and "mobilenet_v3_large" not in out
    line = _error_line(*cli("history", "mobilenet_v3_small", "--device", "pixel9", "--db", store_db)[::2])
    assert "no successful result of mobilenet_v3_small" in line and "pixel9" in line


def test_baseline_from_db_takes_the_latest_on_a_branch(cli, store_db, tmp_path):
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout.strip()
    with Store(store_db) as store:
        fill(store, ["mobilenet_v3_small"])   # run 1: at this checkout's HEAD (on HEAD's branch)
        fill(store, ["mobilenet_v3_small"])   # run 2: later, at a revision on no branch here
    raw_sql(store_db, "UPDATE runs SET git_rev = ? WHERE id = 1", args=(head,))
    raw_sql(store_db, "UPDATE runs SET git_rev = 'f' || git_rev WHERE id = 2")
    raw_sql(store_db, "UPDATE measurements SET median_ms = 9.5 WHERE run_id = 2")
    code, out, err = cli("baseline", "save", str(tmp_path / "b.json"), "--from-db", "HEAD", "--db", store_db)
    assert code == 0, err
    (r,) = json.loads((tmp_path / "b.json").read_text())["results"]
    assert r["latency_ms"]["median"] != 9.5
    code, out, err = cli("baseline", "save", str(tmp_path / "c.json"), "--db", store_db)
    assert json.loads((tmp_path / "c.json").read_text())["results"][0]["latency_ms"]["median"] == 9.5
    line = _error_line(*cli("baseline", "save", str(tmp_path / "d.json"), "--from-db", "no-such-branch-x",
                            "--db", store_db)[::2])
    assert "no-such-branch-x" in line


@pytest.fixture
def nothing_measured(monkeypatch):
    """Fails the test if anything is exported or measured."""
    import mbv3bench.runner as runner
    from mbv3bench.targets.local import LocalTarget

    def refuse(*a, **kw):
        raise AssertionError("measured or exported before the store was opened")

    monkeypatch.setattr(LocalTarget, "measure_groups", refuse)
    monkeypatch.setattr(runner, "get_artifact", refuse)


BAD = {"wrong password": ("mbv3", "secret", "not-the-password", "wrong or missing password for user secret"),
       "no password": ("mbv3", "secret", None, "wrong or missing password"),
       "no such database": ("nodb", "postgres", None, "no database nodb on 127.0.0.1"),
       "no server": ("mbv3", "postgres", None, "no PostgreSQL server answers on 127.0.0.1")}
COMMANDS = [["run", "--models", SMALL, "--runtimes", "litert"], ["table", "--paper-table", "3"],
            ["compare", "--ab", SMALL, SMALL], ["lut", "build", "--space", "ofa_mobilenet_v3", "--res", "160", "-o",
                                                "{tmp}/t.json"], ["history", SMALL], ["baseline", "save", "{tmp}/b.json"]]


@pytest.mark.parametrize("case", BAD)
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_store_the_tool_cannot_use_is_one_line_before_anything_is_measured(cli, pg, tmp_path, monkeypatch,
                                                                             nothing_measured, case, command):
    db, user, password, words = BAD[case]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    url = pg.url(db, user, password)
    if case == "no server":
        url = url.replace(f":{pg.port}/", ":1/")
    code, out, err = cli(*[a.format(tmp=tmp_path) for a in command], "--db", url)
    line = _error_line(code, err)
    assert words in line and f"127.0.0.1:{1 if case == 'no server' else pg.port}/{db}" in line
    assert "not-the-password" not in out + err
    _nothing_written(tmp_path)


def _nothing_written(folder):
    """No `postgresql:` folder of an SQLite file, no file at all (a default --out-dir may be made)."""
    made = list(folder.rglob("*"))
    assert [p for p in made if p.is_file() or p.name.startswith("postgres")] == [], made


@pytest.mark.parametrize("url", ["mysql://root@127.0.0.1/mbv3", "sqlite:///tmp/x.sqlite", "postgresql://127.0.0.1:5432/",
                                 "postgresql://u:hunter2@127.0.0.1:99999/db"])
def test_a_url_of_another_kind_is_one_line(cli, tmp_path, monkeypatch, url):
    monkeypatch.chdir(tmp_path)
    line = _error_line(*cli("table", "--paper-table", "3", "--db", url)[::2])
    assert "allowed: a file path (SQLite) or postgresql://" in line and "hunter2" not in line
    _nothing_written(tmp_path)


def test_the_password_comes_from_pgpassword_and_is_never_shown(cli, pg, tmp_path, monkeypatch, fake_measuring):
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    url = pg.url("mbv3", "secret")
    code, out, err = _run(cli, tmp_path, url)
    assert code == 0, err
    code, out2, err2 = cli("store", "info", pg.url("mbv3", "secret", PASSWORD))
    assert code == 0 and f"postgresql://secret@127.0.0.1:{pg.port}/mbv3" in out2
    assert PASSWORD not in out + err + out2 + err2


def test_a_connection_lost_mid_run_keeps_what_was_committed(cli, pg, tmp_path, fake_measuring):
    url = pg.new_database()
    db = url.rsplit("/", 1)[1]
    groups = []

    def cut_on_second_group():
        groups.append(1)
        if len(groups) == 2:
            pg.sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'")

    fake_measuring.append(cut_on_second_group)
    code, out, err = _run(cli, tmp_path, url)
    line = _error_line(code, err, exit_code=3)
    assert f"lost the connection to results store {url}" in line and "1 of them stored" in line
    assert "NOT stored in" in out
    assert raw_sql(url, "SELECT runtime FROM measurements") == [("litert",)]
    assert raw_sql(url, "SELECT COUNT(*) FROM samples")[0][0] == 20


def test_several_writers_at_once_lose_nothing(store_db, tmp_path, artifact):
    """Two `run`s and a `lut build`, in their own processes, into one store at the same time."""
    env = {**os.environ, "MBV3BENCH_MODELS_DIR": str(REPO / "tests" / "fixtures" / "spaces"),
           "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "mbv3bench.cli"]
    short = ["--runs", "3", "--min-secs", "0", "--warmup-runs", "1", "--warmup-secs", "0", "--processes", "1",
             "--target-ci", "0"]
    jobs = [[*cmd, "run", "--models", SMALL, "--runtimes", "litert,onnxruntime", "--no-per-layer", *FAST,
             "--db", store_db, "--out-dir", str(tmp_path / f"run{i}")] for i in (1, 2)]
    jobs.append([*cmd, "lut", "build", "--space", "tiny_space", "--res", "64", "--runtime", "onnxruntime", *short,
                 "--retries", "0", "--export-jobs", "1", "-o", str(tmp_path / "t.json"), "--db", store_db])
    for j in jobs[:2]:
        os.makedirs(j[j.index("--out-dir") + 1])
    procs = [subprocess.Popen(j, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
             for j in jobs]
    done = [p.communicate(timeout=900) for p in procs]
    for p, (out, err) in zip(procs, done):
        assert p.returncode == 0, err[-2000:]
    blocks = len(json.loads((tmp_path / "t.json").read_text())["blocks"])
    assert raw_sql(store_db, "SELECT COUNT(*) FROM runs")[0][0] == 3
    assert raw_sql(store_db, "SELECT COUNT(*) FROM measurements WHERE variant = ?", args=(SMALL,))[0][0] == 4
    assert raw_sql(store_db, "SELECT COUNT(*) FROM measurements WHERE variant LIKE 'tiny_space%'")[0][0] == blocks
    # every measurement has its samples
    assert raw_sql(store_db, "SELECT COUNT(*) FROM measurements m WHERE NOT EXISTS"
                             " (SELECT 1 FROM samples s WHERE s.measurement_id = m.id)")[0][0] == 0
