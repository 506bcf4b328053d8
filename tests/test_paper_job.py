"""The main job (`run --paper`, `make run`): what it measures is read off the paper's tables and
figures, each table's rows are measured in one group (so "relative" is paired), Spearman's rho is
right by hand and shows under the tables; the job's progress display paces the whole job."""
import pytest

from mbv3bench.core.registry import format_of
from mbv3bench.core.results import Result
from mbv3bench.report import paper_job, plots
from mbv3bench.report.accuracy import load_accuracy, load_paper_latency
from mbv3bench.report.rank import ranks, spearman
from mbv3bench.report.tables import TABLES, build
from mbv3bench.runner import MAX_GROUP, Cell
from mbv3bench.store import Store


@pytest.fixture(scope="module")
def cells():
    return paper_job.cells(load_accuracy())


def _groups(cells, runtime):
    return {c.group for c in cells if c.runtime == runtime}


def test_the_job_measures_every_row_of_tables_3_and_5_and_every_published_point_of_figure_1(cells):
    have = {(c.variant, c.runtime, c.format) for c in cells}
    for runtime in ("litert", "onnxruntime"):
        missing = [v for _, v in TABLES[3].rows if (v, runtime, format_of(runtime, "fp32")) not in have]
        assert missing == [], f"Table 3 rows not measured on {runtime}"
    assert [v for _, v in TABLES[5].rows if (v, "litert", "tflite") not in have] == []
    accuracy = load_accuracy()
    published = [v for s in plots.tradeoffs()["1"].series for v in s.variants if accuracy.top1(v)]
    assert len(published) >= 10   # the nine of Table 3, and MobileNetV2 1.4
    assert [v for v in published if (v, "litert", "tflite") not in have] == []
    # and nothing beyond them: the job is the paper's rows, not a list of its own
    wanted = ({(v, rt) for _, v in TABLES[3].rows for rt in ("litert", "onnxruntime")}
              | {(v, "litert") for _, v in TABLES[5].rows} | {(v, "litert") for v in published})
    assert {(c.variant, c.runtime) for c in cells} == wanted


def test_each_table_is_one_group_holding_its_first_row(cells):
    for number, runtime in ((3, "litert"), (3, "onnxruntime"), (5, "litert")):
        rows = TABLES[number].variants
        groups = {c.group for c in cells if c.runtime == runtime and c.variant in rows
                  and all(Cell(v, runtime, c.format, c.group) in cells for v in rows)}
        assert groups, f"Table {number} on {runtime}: no group holds all its rows"
    for group in {c.group for c in cells}:
        assert len([c for c in cells if c.group == group]) <= MAX_GROUP   # one group, not split into two
    # V3-Large on LiteRT is measured twice, once with Table 3's rows and once with Table 5's
    assert len([c for c in cells if (c.variant, c.runtime) == ("mobilenet_v3_large", "litert")]) == 2


def test_ranks_average_ties():
    assert ranks([10.0, 20.0, 20.0, 30.0]) == [1.0, 2.5, 2.5, 4.0]
    assert ranks([3.0, 1.0, 2.0]) == [3.0, 1.0, 2.0]
    assert ranks([5.0, 5.0, 5.0]) == [2.0, 2.0, 2.0]


def test_spearman_against_hand_computed_values():
    # y's ranks 1, 2, 3.5, 5, 3.5: sum of rank products about the mean 8, sums of squares 10 and 9.5
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / (10 * 9.5) ** 0.5)
    assert spearman([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(-1.0)
    # no ties: 1 - 6 sum(d^2) / (n (n^2 - 1)); one adjacent swap among 5 is d^2 = 1 + 1
    assert spearman([1, 2, 3, 4, 5], [1, 3, 2, 4, 5]) == pytest.approx(1 - 6 * 2 / (5 * 24))
    assert spearman([1, 2], [2, 1]) is None            # too few to rank
    assert spearman([1, 2, 3], [7, 7, 7]) is None      # no order on one side


def _result(variant: str, ms: float, group: str | None = None, runtime: str = "litert") -> Result:
    """A result measured at `ms`; with `group`, three processes of four blocks, as rounds make them."""
    fmt = format_of(runtime, "fp32")
    doc = {"variant": variant, "runtime": runtime, "format": fmt, "device": "local", "threads": 1, "core": 1,
           "latency_ms": {"median": ms, "mean": ms, "std": 0.01 * ms, "p10": ms, "p90": ms, "ci95": [0.99 * ms, 1.01 * ms]},
           "n": 120, "noisy": False, "noisy_reason": None, "settings": {"threads": 1, "core": 1, "format": fmt},
           "device_state": {}}
    if group:
        doc["blocks_ms"] = [[ms * (1 + 0.01 * ((p + k) % 3)) for k in range(4)] for p in range(3)]
        doc["rounds"] = {"group": group, "processes": 3}
    return Result.from_json(doc)


def _store(tmp_path, groups: list[tuple[str | None, dict[str, float]]]):
    path = tmp_path / "r.sqlite"
    with Store(path) as store:
        run = store.start_run({})
        for g, (group, ms) in enumerate(groups):
            for i, (variant, value) in enumerate(ms.items()):
                store.add_measurement(run, f"{g}-{i}", _result(variant, value, group))
    return path


def _build(db, number: int, runtime: str = "litert"):
    with Store(db, readonly=True) as store:
        return build(number, store, ["local"], runtime, load_accuracy(), load_paper_latency(), "median")


def test_rows_are_the_measurements_paired_with_their_first_row(tmp_path):
    paper = load_paper_latency()
    table3 = {v: paper.table(v, "fp32", "3")["pixel1"] / 10 for v in TABLES[3].variants}
    table5 = {v: paper.table(v, "fp32", "5")["pixel1"] / 10 for v in TABLES[5].variants}
    db = _store(tmp_path, [("t3", table3), ("t5", table5)])   # Table 5's V3-Large is the later one
    for number, ms in ((3, table3), (5, table5)):
        doc = _build(db, number)
        first = doc["rows"][0]["measured"]["local"]
        assert first["ms"] == pytest.approx(ms["mobilenet_v3_large"])   # this table's own V3-Large
        for row in doc["rows"][1:]:
            cell = row["measured"]["local"]
            assert cell["relative_ci95"] is not None, f"Table {number}: {row['variant']} not paired"
            assert cell["relative"] == pytest.approx(ms[row["variant"]] / ms["mobilenet_v3_large"], rel=0.02)


def test_the_rank_correlation_shows_under_table_3(tmp_path, cli):
    paper = load_paper_latency()
    ms = {v: paper.table(v, "fp32", "3")["pixel1"] / 10 for v in TABLES[3].variants}
    ms["mnasnet_a1"], ms["proxylessnas_mobile"] = ms["proxylessnas_mobile"], ms["mnasnet_a1"]  # ranks 7 and 8 swapped
    db = _store(tmp_path, [(None, ms)])
    expected = 1 - 6 * 2 / (9 * 80)
    doc = _build(db, 3)
    assert doc["rank_correlation"]["local"] == {"against": "pixel1", "rows": 9, "spearman": pytest.approx(expected)}
    out = tmp_path / "report"
    code, _, err = cli("report", "-o", str(out), "--db", str(db), "--runtime", "litert,onnxruntime",
                       "--statistic", "median")
    assert code == 0, err
    lines = (out / "table3.md").read_text().splitlines()
    table_end = max(i for i, line in enumerate(lines) if line.startswith("|"))
    assert lines[table_end + 2] == ("- rank correlation (Spearman, ties averaged) of the median ms measured on local "
                                    f"with the paper's P-1 ms: {expected:.3f} over 9 rows")
    # ONNX Runtime's Table 3 beside it, with nothing measured: the correlation says why it has none
    assert "n/a (0 row(s) measured and published" in (out / "table3-onnxruntime.md").read_text()
    assert "[Table 3 (onnxruntime)](table3-onnxruntime.md): 0 of 9 rows measured" in (out / "index.md").read_text()


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_display_paces_the_whole_job(tmp_path):
    from rich.console import Console

    from mbv3bench.measure.protocol import Protocol
    from mbv3bench.progress import RunDisplay

    protocol = Protocol(processes=3, profile_runs=10, warmup_secs=0.5, min_secs=1.0, target_ci=0)
    grid = [Cell(f"mobilenet_v3_small:width={w}", "litert", "tflite", g) for g, w in
            (("a", 0.5), ("a", 0.75), ("b", 1.0), ("b", 1.25))]
    clock = _Clock()
    display = RunDisplay(Console(file=open(tmp_path / "screen", "w")), grid, protocol, clock=clock)
    assert display.eta_s() is None          # nothing to pace it by before the first export
    clock.now = 10.0
    display.on_event("exported", grid[0], None)
    guess = 4 * (2.0 + 0.5 + 1.0)           # 3 timed processes and a profiled one, per group
    assert display.eta_s() == pytest.approx(3 * 10.0 + guess)   # 3 exports at 10 s each, then the cells' group(s)
    for c in grid[1:]:
        display.on_event("exported", c, None)
    clock.now = 40.0
    for c in grid[:2]:
        display.on_event("measure", c, None)
    clock.now = 45.0
    # group a under way (the guess less its 5 s), group b waits for one more
    assert display.eta_s() == pytest.approx((guess - 5.0) + guess)
    clock.now = 52.0
    for c in grid[:2]:
        display.on_event("done", c, _result(c.variant, 1.0))
    display.on_event("measure", grid[2], None)
    display.on_event("measure", grid[3], None)
    # group a took 12 s for 2 cells: group b (2 cells) should too
    assert display.eta_s() == pytest.approx(12.0)
    clock.now = 55.0
    assert display.eta_s() == pytest.approx(9.0)


def test_paper_refuses_a_grid_of_its_own(cli, tmp_path):
    for given in (["--models", "mobilenet_v2"], ["--runtimes", "litert"], ["--precision", "int8"]):
        code, out, err = cli("run", "--paper", *given, "--db", str(tmp_path / "r.sqlite"))
        assert code == 2 and err.count("\n") == 1 and err.startswith("error: --paper measures the paper's own grid")
        assert f"leave out {given[0]}" in err
    assert not (tmp_path / "r.sqlite").exists()
