"""executor_runner's log, as its v1.4.1 and v1.2.0 sources print it (examples/portable/executor_runner/
executor_runner.cpp in pytorch/executorch; the line numbers after `executor_runner.cpp:` are theirs)."""
from __future__ import annotations

import pytest

from mbv3bench.targets.android.runner_log import RunnerLogError, parse_runner_log

# v1.4.1, --num_executions=4 --cpu_threads=1, with the outputs' summary on stdout in between
V141 = """\
I 00:00:00.000412 executorch:executor_runner.cpp:340] Resetting threadpool with num threads = 1
I 00:00:00.003101 executorch:executor_runner.cpp:476] Model file /data/local/tmp/mbv3bench/m.pte is loaded.
I 00:00:00.003120 executorch:executor_runner.cpp:486] Using method forward
I 00:00:00.003150 executorch:executor_runner.cpp:556] Setting up CPU planned buffer 0, size 150528.
I 00:00:00.011922 executorch:executor_runner.cpp:624] Model loaded in 8.812000 ms.
I 00:00:00.020416 executorch:executor_runner.cpp:779] Iteration 1 of 4: 8.400000 ms
I 00:00:00.025473 executorch:executor_runner.cpp:779] Iteration 2 of 4: 5.000000 ms
I 00:00:00.029558 executorch:executor_runner.cpp:779] Iteration 3 of 4: 4.000000 ms
I 00:00:00.035622 executorch:executor_runner.cpp:779] Iteration 4 of 4: 6.000000 ms
I 00:00:00.035640 executorch:executor_runner.cpp:789] Model executed successfully 4 time(s) in 23.400000 ms.
I 00:00:00.035651 executorch:executor_runner.cpp:798] 1 outputs: 
OutputX 0: tensor(sizes=[1, 1000], [-0.1, 0.2, ..., 0.3])
I 00:00:00.036904 executorch:executor_runner.cpp:261] ETDump written to file '/data/local/tmp/mbv3bench/m.etdp'.
"""
# v1.2.0: no per-iteration lines, no load time
V120 = """\
I 00:00:00.000391 executorch:executor_runner.cpp:203] Resetting threadpool with num threads = 4
I 00:00:00.002954 executorch:executor_runner.cpp:352] Model file m.pte is loaded.
I 00:00:00.030100 executorch:executor_runner.cpp:495] Model executed successfully 10 time(s) in 52.000000 ms.
"""


def test_each_execution_and_the_warmup_set_apart():
    log = parse_runner_log(V141, warmup=1)
    assert log.iterations_ms == (8.4, 5.0, 4.0, 6.0) and (log.executions, log.total_ms) == (4, 23.4)
    assert (log.threads, log.load_ms, log.problems) == (1, 8.812, ())
    assert log.summary_ms() == {"mean": 5.0, "median": 5.0, "std": pytest.approx((2 / 3) ** 0.5), "min": 4.0,
                                "max": 6.0, "n": 3}


def test_an_older_build_gives_the_mean_of_every_execution():
    log = parse_runner_log(V120, warmup=1)
    assert log.iterations_ms == () and log.threads == 4 and log.load_ms is None
    assert log.summary_ms() == {"mean": 5.2, "median": None, "std": None, "min": None, "max": None, "n": 10}


def test_what_went_wrong_is_kept_in_order():
    text = ("I 00:00:00.000003 executorch:executor_runner.cpp:340] Resetting threadpool with num threads = 1\n"
            "E 00:00:00.000424 executorch:program.cpp:168] Program identifier 'abcd' != expected 'ET12'\n"
            "E 00:00:00.000437 executorch:executor_runner.cpp:473] Failed to parse model file /x/m.pte\n")
    log = parse_runner_log(text)
    assert log.problems == ("Program identifier 'abcd' != expected 'ET12'", "Failed to parse model file /x/m.pte")
    assert log.summary_ms()["mean"] is None


LONG = "I 00:00:00.000001 executorch:executor_runner.cpp:1] " + "x" * 70000


@pytest.mark.parametrize("text, message", [
    ("OutputX 0: tensor(sizes=[1, 10], [0.1])\n", "not an executor_runner log: no `executorch:` log line"),
    ("", "not an executor_runner log: no `executorch:` log line"),
    ("I 00:00:00.000001 executorch:executor_runner.cpp:779] Iteration 1 of 1: 99999999999.000000 ms\n",
     "line 1: "),
    (LONG + "\n", f"line 1: {len(LONG):,} characters, more than the 65,536"),
])
def test_what_no_run_prints_is_one_line(text, message):
    with pytest.raises(RunnerLogError) as e:
        parse_runner_log(text)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)
