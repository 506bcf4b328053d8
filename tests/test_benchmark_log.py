import random
from pathlib import Path

import pytest

from mbv3bench.targets.android.benchmark_log import BenchmarkLogError, NodeTypeRow, OpRow, parse_benchmark_log

from conftest import FIXTURES

# Per fixture, the facts SOURCES.md lists: end-to-end avg (us), op rows, sum of their avg ms,
# init-table rows and the sum of their avg ms.
FACTS = {
    "01_old-format-spaces_start-col_mnasnet-fp32.txt": (80670.2, 77, 80.637, 0, None),
    "02_old-format_no-op-profiling_mobilenet-v1-quant.txt": (747733, 0, None, 0, None),
    "03_tab-start-col_mem-delta_sci-notation_mobilenet-v1.txt": (2950340, 31, 2949.903, 1, 1.356),
    "04_nnapi-delegate-rows_profile-only_yolov5s-fp32.txt": (None, 11, 158.716, 2, 571.369),
    "05_no-op-profiling_fragment_yolov5s-int8.txt": (95788.3, 0, None, 0, None),
    "06_external-vx-delegate_quant-uint8_ssd-mobilenet.txt": (154534, 2, 154.488, 2, 0.846),
    "07_litert-new-format_xnnpack-ops_fc-fp32-sme2.txt": (464.545, 5, 0.702, 0, None),
}


def _fixture(name):
    return parse_benchmark_log((FIXTURES / name).read_text())


@pytest.mark.parametrize("name", FACTS)
def test_fixture_facts(name):
    avg_us, n_ops, sum_ms, n_init, init_sum_ms = FACTS[name]
    log = _fixture(name)
    if avg_us is None:
        assert log.avg_us is None
    else:
        assert log.avg_us == pytest.approx(avg_us, rel=1e-9)
    assert len(log.ops) == n_ops
    if sum_ms is None:
        assert log.ops_sum_ms is None
    else:
        assert log.ops_sum_ms == pytest.approx(sum_ms, abs=1e-9)
    assert len(log.init_ops) == n_init
    if init_sum_ms is not None:
        assert sum(op.avg_ms for op in log.init_ops) == pytest.approx(init_sum_ms, abs=1e-9)


def test_every_fixture_parses():
    names = sorted(p.name for p in FIXTURES.glob("*.txt"))
    assert names, "no fixtures found"
    for name in names:
        assert isinstance(parse_benchmark_log((FIXTURES / name).read_text()).ops, tuple), name


def test_01_profiler_timings_are_not_the_end_to_end_figure():
    log = _fixture("01_old-format-spaces_start-col_mnasnet-fp32.txt")
    assert log.fmt == "old"
    assert log.profiler_avg_us == pytest.approx(80635.7)
    assert (log.count, log.std_us, log.min_us, log.max_us) == (100, 871, 79589, 83607)
    assert (log.init_us, log.warmup_avg_us) == (47967, 83496.6)
    # "Top by Computation Time" repeats 10 of the rows; they must not be appended.
    assert [op.name for op in log.ops].count("[MNasNet/Conv_1/Relu6]") == 1
    assert log.ops[0] == OpRow("[MNasNet/Conv/Relu6]", "CONV_2D", 3.246, 3.1, 0.0, 4.026, 0.0, 1)
    assert log.ops[-1].start_ms == pytest.approx(80.665)
    assert [(r.node_type, r.count) for r in log.by_node_type] == [
        ("CONV_2D", 42), ("DEPTHWISE_CONV_2D", 20), ("ADD", 13), ("AVERAGE_POOL_2D", 1), ("RESHAPE", 1)]


def test_02_single_run_warmup_line_has_no_avg():
    log = _fixture("02_old-format_no-op-profiling_mobilenet-v1-quant.txt")
    assert log.count == 50
    assert log.warmup_avg_us == 751932
    assert log.init_us == 21039
    assert log.profiler_avg_us is None
    assert log.by_node_type == ()


def test_03_scientific_notation_and_node_indices():
    log = _fixture("03_tab-start-col_mem-delta_sci-notation_mobilenet-v1.txt")
    assert log.avg_us == 2950340.0
    assert log.profiler_avg_us == 2949900.0
    assert log.first_us == 3512391
    assert log.ops[0].name == "[MobilenetV1/MobilenetV1/Conv2d_0/Relu6]:0"
    assert log.ops[-1].name == "[MobilenetV1/Predictions/Reshape_1]:30"
    assert log.ops[-1].start_ms == pytest.approx(2950.011)
    assert log.init_ops == (OpRow("AllocateTensors/0", "AllocateTensors", 1.356, 1.356, 0.0, 100.0, 0.0, 1),)
    # The init section has its own "Summary by node type"; only the regular runs' is kept.
    assert [r.node_type for r in log.by_node_type][:2] == ["CONV_2D", "DEPTHWISE_CONV_2D"]
    assert len(log.by_node_type) == 5


def test_04_nnapi_delegate_rows_without_end_to_end_figure():
    log = _fixture("04_nnapi-delegate-rows_profile-only_yolov5s-fp32.txt")
    assert (log.count, log.std_us, log.init_us, log.first_us) == (None, None, None, None)
    assert log.profiler_avg_us == 158715
    delegate = [op for op in log.ops if op.node_type == "TfLiteNnapiDelegate"]
    assert len(delegate) == 3
    assert delegate[0].name == "[model/tf.nn.silu_16/mul, model/tf.nn.silu_26/mul, model/tf.nn.silu_35/mul]:231"
    assert delegate[0].avg_ms == pytest.approx(79.010)
    assert [op.times_called for op in log.init_ops] == [1, 2]
    assert log.init_ops[0].mem_kb == pytest.approx(1748.0)


def test_05_summary_fragment():
    log = _fixture("05_no-op-profiling_fragment_yolov5s-int8.txt")
    assert (log.init_us, log.first_us, log.warmup_avg_us) == (1779, 152949, 110690)
    assert (log.count, log.std_us) == (50, 1284)


def test_06_vx_delegate_node_type_with_space_and_overwide_type():
    log = _fixture("06_external-vx-delegate_quant-uint8_ssd-mobilenet.txt")
    assert [op.node_type for op in log.ops] == ["Vx Delegate", "TFLite_Detection_PostProcess"]
    assert log.ops[0].name == "[Squeeze, convert_scores]:64"
    assert log.ops[1].name.startswith("[TFLite_Detection_PostProcess, TFLite_Detection_PostProcess:1,")
    assert log.ops[1].start_ms == pytest.approx(152.998)
    assert [op.times_called for op in log.init_ops] == [2, 3]
    assert log.first_us == 8416260
    assert log.profiler_avg_us == 154488


def test_07_litert_prefers_the_us_count_line_over_rounded_ms():
    log = _fixture("07_litert-new-format_xnnpack-ops_fc-fp32-sme2.txt")
    assert log.fmt == "litert"
    assert log.count == 2112
    assert (log.std_us, log.min_us, log.max_us) == (13, 442, 979)
    assert log.init_us == pytest.approx(4478)
    # The warm-up count= line is more precise than "Warmup (first): 1.03 ms" / "(avg): 0.47 ms".
    assert (log.first_us, log.warmup_avg_us) == (1033, 465.319)
    assert all(op.start_ms is None for op in log.ops)
    assert [op.node_type for op in log.ops] == [
        "LiteRT::Run[buffer registration]", "AllocateTensors", "Static Reshape (NC)",
        "Fully Connected (NC, PF32) GEMM", "LiteRT::Run[Buffer sync]"]
    assert log.ops[3].name == "Delegate/Fully Connected (NC, PF32) GEMM:1"
    called = sum(op.avg_ms for op in log.ops if op.times_called)
    assert called == pytest.approx(0.411, abs=1e-9)
    assert called * 1000 == pytest.approx(log.profiler_avg_us, abs=0.5)


OLD_SNIPPET = """\
STARTING!
Initialized session in 3.5ms
Running benchmark for 5 iterations
count=5 first=1.3e+06 curr=1.21e+06 min=1.2e+06 max=1.3e+06 avg=1.23457e+06 std=31000

============================== Run Order ==============================
                     [node type]          [start]         [first]        [avg ms]            [%]          [cdf%]          [mem KB]      [times called]  [Name]
                         CONV_2D            0.000        1.1e+03        1.2e+03        97.500%         97.500%             0.000              1       [conv one]:0
                     Vx Delegate         1200.000          3.000          30.500         2.500%        100.000%            12.500              2       [Squeeze, convert_scores]:7

============================== Summary by node type ==============================
                     [Node type]          [count]         [avg ms]          [avg %]         [cdf %]       [mem KB]      [times called]
                         CONV_2D                1         1200.000          97.500%         97.500%          0.000              1
                     Vx Delegate                1           30.500           2.500%        100.000%         12.500              2

Timings (microseconds): count=5 first=1.2e+06 curr=1.2e+06 min=1.2e+06 max=1.3e+06 avg=1.2305e+06 std=30000

Average inference timings in us: Warmup: 1.4e+06, Init: 3500, no stats: 1.23457e+06
"""


def test_old_format_snippet():
    log = parse_benchmark_log(OLD_SNIPPET)
    assert log.fmt == "old"
    assert log.avg_us == 1234570.0
    assert log.count == 5
    assert log.profiler_avg_us == 1230500.0
    assert (log.init_us, log.warmup_avg_us) == (3500, 1400000)
    assert log.ops == (
        OpRow("[conv one]:0", "CONV_2D", 1200.0, 1100.0, 0.0, 97.5, 0.0, 1),
        OpRow("[Squeeze, convert_scores]:7", "Vx Delegate", 30.5, 3.0, 1200.0, 2.5, 12.5, 2),
    )
    assert log.ops_sum_ms == pytest.approx(1230.5)
    assert log.by_node_type[1] == NodeTypeRow("Vx Delegate", 1, 30.5, 2.5, 2)


LITERT_SNIPPET = """\
INFO: [litert/runtime/accelerators/auto_registration.cc:148] CPU accelerator registered.
VERBOSE: Replacing 2 out of 2 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions for subgraph 0.
INFO: Initialized session in 2.25ms.
INFO: [./litert/tools/benchmark_litert_model.h:81]
========== BENCHMARK RESULTS ==========
INFO: [./litert/tools/benchmark_litert_model.h:82] Model initialization: 2.25 ms
INFO: [./litert/tools/benchmark_litert_model.h:84] Warmup (first):       1.50 ms
INFO: [./litert/tools/benchmark_litert_model.h:86] Warmup (avg):         0.90 ms (10 runs)
INFO: [./litert/tools/benchmark_litert_model.h:88] Inference (avg):      0.81 ms (50 runs)
INFO: [./litert/tools/benchmark_litert_model.h:126] ======================================

INFO: [./litert/tools/benchmark_litert_model.h:179]
============================== Run Order ==============================
\t                             [node type]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]
\tConvolution (NHWC, QC8, F32, QC8W) IGEMM\t    0.500\t  5.1e-01\t 70.000%\t 70.000%\t     0.000\t        1\tDelegate/Convolution (NHWC, QC8, F32, QC8W) IGEMM:0
\t                     Static Reshape (NC)\t    0.300\t    0.220\t 30.000%\t100.000%\t     0.000\t        1\tDelegate/a, b, c:1

Timings (microseconds): count=50 first=800 curr=730 min=700 max=900 avg=730.5 std=12
"""


def test_litert_snippet_without_count_line_uses_ms_results():
    log = parse_benchmark_log(LITERT_SNIPPET)
    assert log.fmt == "litert"
    assert log.avg_us == pytest.approx(810.0)
    assert (log.count, log.std_us, log.min_us, log.max_us) == (None, None, None, None)
    assert log.init_us == pytest.approx(2250.0)
    assert log.first_us == pytest.approx(1500.0)
    assert log.warmup_avg_us == pytest.approx(900.0)
    assert log.profiler_avg_us == 730.5
    assert log.ops == (
        OpRow("Delegate/Convolution (NHWC, QC8, F32, QC8W) IGEMM:0", "Convolution (NHWC, QC8, F32, QC8W) IGEMM",
              0.51, 0.5, None, 70.0, 0.0, 1),
        OpRow("Delegate/a, b, c:1", "Static Reshape (NC)", 0.22, 0.3, None, 30.0, 0.0, 1),
    )


def test_inference_timings_line_beats_count_line_and_no_stats_is_last_resort():
    summary = "INFO: Inference timings in us: Init: 10, First inference: 20, Warmup (avg): 15, Inference (avg): 12.5\n"
    assert parse_benchmark_log("INFO: count=4 first=1 curr=1 min=1 max=1 avg=99 std=0\n" + summary).avg_us == 12.5
    log = parse_benchmark_log("Average inference timings in us: Warmup: 7, Init: 3, no stats: 5.5\n")
    assert (log.avg_us, log.count, log.init_us, log.warmup_avg_us) == (5.5, None, 3, 7)


def test_concatenated_runs_report_the_last():
    table = "\n".join(OLD_SNIPPET.splitlines()[5:9])
    run = "count=1 curr={w}\n\ncount={n} first=1 curr=1 min=1 max=2 avg={a} std=1\n"
    text = (run.format(w=900, n=5, a=100) + f"\n{table}\n\n" + run.format(w=800, n=7, a=200)
            + "\n" + table.replace("[conv one]", "[conv two]") + "\n")
    log = parse_benchmark_log(text)
    assert (log.avg_us, log.count) == (200, 7)
    # The warm-up is the stat line just before the main one, not the log's first.
    assert (log.first_us, log.warmup_avg_us) == (800, 800)
    assert [op.name for op in log.ops] == ["[conv two]:0", "[Squeeze, convert_scores]:7"]


def test_bare_count_line_is_a_log():
    log = parse_benchmark_log("count=3 first=9 curr=8 min=7 max=9 avg=8 std=0.8\n")
    assert (log.avg_us, log.count, log.min_us, log.max_us, log.std_us) == (8, 3, 7, 9, 0.8)
    assert (log.first_us, log.warmup_avg_us, log.ops_sum_ms) == (None, None, None)


def test_nan_percent_cells_of_a_zero_time_table():
    text = """\
============================== Run Order ==============================
\t             [node type]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]
\t         AllocateTensors\t    0.000\t    0.000\t   -nan%\t   -nan%\t     0.000\t        1\tAllocateTensors/0
\t                 RESHAPE\t    0.000\t    0.000\t-nan(ind)%\t-nan(ind)%\t     0.000\t        1\tr:1

Timings (microseconds): count=1 curr=0
"""
    log = parse_benchmark_log(text)
    assert [op.name for op in log.ops] == ["AllocateTensors/0", "r:1"]
    # a % of a zero total is undefined: None, never a nan passed on to the store and the JSON
    assert [op.pct for op in log.ops] == [None, None]
    # A one-run Stat prints only curr=, which is its avg.
    assert log.profiler_avg_us == 0


def test_csv_op_profiling_output():
    text = """\
Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
node type, first, avg_ms, %, cdf%, mem KB, times called, name
Fully Connected (NC, F32) GEMM, 0.538, 0.382, 92.948%, 92.948%, 0, 1, Delegate/fc\tpart two:1
ADD, 0.02, 2.9e-02, 7.052%, 100%, 0, 1, add:2

============================== Summary by node type ==============================
node type, count, avg_ms, avg %, cdf %, mem KB, times called
Fully Connected (NC, F32) GEMM, 1, 0.382, 92.948%, 92.948%, 0, 1
"""
    log = parse_benchmark_log(text)
    assert [(op.node_type, op.name, op.avg_ms) for op in log.ops] == [
        ("Fully Connected (NC, F32) GEMM", "Delegate/fc\tpart two:1", 0.382), ("ADD", "add:2", 0.029)]
    assert log.by_node_type == (NodeTypeRow("Fully Connected (NC, F32) GEMM", 1, 0.382, 92.948, 1),)


def test_op_rows_without_end_to_end_figure_give_none():
    text = "\n".join(OLD_SNIPPET.splitlines()[5:9])  # the Run Order table alone
    log = parse_benchmark_log(text)
    assert len(log.ops) == 2
    assert log.avg_us is None
    assert log.profiler_avg_us is None


def test_subgraph_and_delegate_internal_tables_are_not_primary_ops():
    table = "\n".join(OLD_SNIPPET.splitlines()[5:9])
    internal = table.replace("CONV_2D ", "INNER_1 ").replace("Vx Delegate", "INNER_2    ")
    # The layout of tflite/profiling/profile_summary_formatter.cc for a model with a WHILE body.
    text = ("Operator-wise Profiling Info for Regular Benchmark Runs:\n"
            f"Primary graph (name: main) profile:\n{table}\n\n"
            "Timings (microseconds): count=5 first=1 curr=1 min=1 max=2 avg=1500 std=1\n\n"
            f"Subgraph (index: 1, name: body) profile:\n{internal}\n\n"
            "Subgraph (index: 1, name: body) Timings (microseconds): count=5 first=1 curr=1 min=1 max=2 avg=9 std=1\n"
            f"Delegate internal: \n{internal}\n\n"
            "Timings (microseconds): count=5 first=1 curr=1 min=1 max=2 avg=8 std=1\n")
    log = parse_benchmark_log(text)
    assert [op.node_type for op in log.ops] == ["CONV_2D", "Vx Delegate"]
    assert log.profiler_avg_us == 1500


@pytest.mark.parametrize("text", [
    "",
    "   \n\n",
    "The quick brown fox jumps over the lazy dog.\nIt ran 5 ms faster: avg=3 ok.\n",
    random.Random(0).randbytes(4096).decode("latin-1"),
])
def test_not_a_benchmark_log(text):
    with pytest.raises(BenchmarkLogError, match="not a benchmark_model log"):
        parse_benchmark_log(text)


def test_error_is_a_value_error_with_one_line_message():
    with pytest.raises(ValueError) as info:
        parse_benchmark_log("hello")
    assert "\n" not in str(info.value)


def test_csv_tables_as_the_log_prints_them():
    """--op_profiling_output_mode=csv without an output file: the tables go to the INFO log, one
    message per section (so only its first line has the prefix), init table first; % cells of a
    zero-time table read nan; a node type keeps its commas, a name has them as tabs."""
    text = """\
INFO: [./litert/tools/benchmark_litert_model.h:88] Inference (avg):      0.46 ms (2112 runs)
INFO: Profiling Info for Benchmark Initialization:
============================== Run Order ==============================
node type, first, avg_ms, %, cdf%, mem KB, times called, name
ModifyGraphWithDelegate, 1.2, 1.2, 100%, 100%, 1.6e+03, 1, ModifyGraphWithDelegate/0
AllocateTensors, 0, 0, -nan%, -nan%, 0, 0, AllocateTensors/0

INFO: Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
node type, first, avg_ms, %, cdf%, mem KB, times called, name
Convolution (NHWC, F32) IGEMM, 0.1, 0.098, 61.25%, 61.25%, 0, 1, Delegate/Convolution (NHWC\tF32) IGEMM:0
Fully Connected (NC, F32) GEMM, 0.07, 0.062, 38.75%, 100%, 0, 1, Delegate/Fully Connected (NC\tF32) GEMM:1

============================== Summary by node type ==============================
node type, count, avg_ms, avg %, cdf %, mem KB, times called
Convolution (NHWC, F32) IGEMM, 1, 0.098, 61.25%, 61.25%, 0, 1
Fully Connected (NC, F32) GEMM, 1, 0.062, 38.75%, 100%, 0, 1
"""
    log = parse_benchmark_log(text)
    assert [(op.node_type, op.name, op.avg_ms) for op in log.ops] == [
        ("Convolution (NHWC, F32) IGEMM", "Delegate/Convolution (NHWC\tF32) IGEMM:0", 0.098),
        ("Fully Connected (NC, F32) GEMM", "Delegate/Fully Connected (NC\tF32) GEMM:1", 0.062)]
    assert [(op.node_type, op.mem_kb, op.times_called) for op in log.init_ops] == [
        ("ModifyGraphWithDelegate", 1600.0, 1), ("AllocateTensors", 0.0, 0)]
    assert log.init_ops[1].pct is None   # a 0% of 0 ms cell is not a number
    assert [t.node_type for t in log.by_node_type] == ["Convolution (NHWC, F32) IGEMM", "Fully Connected (NC, F32) GEMM"]
    assert log.avg_us == 460.0
