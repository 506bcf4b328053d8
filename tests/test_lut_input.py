"""`lut predict`'s input, as a hostile but fair user gives it: IDs that are too long or spelled with
other scripts' digits, files of IDs with a byte-order mark, bad bytes or no line breaks, files too
big to hold, and a reader that stops early. Every bad input is one line naming it (FILE:LINE for a
file), exit 2; a file is predicted as it is read, and what was printed before a bad line stays."""
import json
import os
import subprocess
import sys
import threading

import pytest

from conftest import REPO
from test_hostile_inputs import one_line_error

from mbv3bench.lut.blocks import sample

OFA = "ofa_mobilenet_v3"
GOOD = f"{OFA}:d=24342,e=34004634634034634600,k=35005735735035735700,res=160"


@pytest.fixture
def lut():
    return str(REPO / "reports" / "reference" / "lut" / "ofa_mobilenet_v3-160.json")


@pytest.fixture(scope="module")
def ids():
    return sample(OFA, 1000, 0, [160])


@pytest.mark.parametrize("what, names", [
    ("x" * 10_000, ["10,002 characters"]),                      # was: OSError, File name too long
    (f"{OFA}:d=" + "2" * 10_000, ["d=", "10,002 characters"]),
    (f"{OFA}:d=\u0662\u0662\u0662\u0662\u0662,res=160", ["not ASCII", "column 20"]),   # Arabic-Indic 2s
    (f"{OFA}:d=\uff12\uff12\uff12\uff12\uff12,res=160", ["not ASCII"]),                # fullwidth 2s
    (f"{OFA}:d=\u00b22222,res=160", ["not ASCII"]),                                    # superscript 2
    (f"{OFA}:res=\u0661\u0666\u0660", ["not ASCII"]),
    (f"{OFA}:d=24342,e=34004634634034634600,k=35005735735035735700,res=" + "1" * 6000, ["res=", "32..2048"]),
    (f"{OFA}:block=s{'1' * 6000}.1,e=3,k=3,res=160", ["block=", "6,005 characters"]),
    (f"{OFA}:block=s1.1,e={'3' * 6000},k=3,res=160", ["needs e=", "6,002 characters"]),
    ("/no/such/ids.txt", ["no such file"]),
    ("ids.txt", ["'ids.txt': no such file"]),
])
def test_a_bad_id_argument_is_one_short_line(cli, lut, what, names):
    assert len(one_line_error(cli("lut", "predict", what, "--lut", lut), *names)) < 600


def test_other_scripts_digits_are_refused_wherever_an_id_is_read(cli, lut, tmp_path):
    one_line_error(cli("lut", "validate", "--lut", lut, "--reference", f"{OFA}:res=\u0661\u0666\u0660",
                       "--db", str(tmp_path / "s.sqlite"), "--plot", str(tmp_path / "p.png")), "not ASCII")
    one_line_error(cli("summary", "mobilenet_v3_small:width=\u0660.75"), "not ASCII")
    one_line_error(cli("lut", "predict", f"{OFA}:block=s1.1,e=\u0663,k=3,res=160", "--lut", lut), "not ASCII")


def test_a_folder_is_not_a_file_of_ids(cli, lut, tmp_path):
    one_line_error(cli("lut", "predict", str(tmp_path), "--lut", lut), "is a folder")


def test_a_file_with_a_bom_crlf_and_comments_is_read(cli, lut, ids, tmp_path):
    f = tmp_path / "ids.txt"
    f.write_bytes(b"\xef\xbb\xbf# made by a spreadsheet\r\n" + b"\r\n".join(i.encode() + b"  # why" for i in ids[:3])
                  + b"\r\n\r\n")
    code, out, err = cli("lut", "predict", str(f), "--lut", lut)
    assert code == 0, err
    assert [line.split("\t")[0] for line in out.splitlines()] == ids[:3]


@pytest.mark.parametrize("bad, names", [
    ("bogus:x=1", ["unknown network 'bogus'"]),
    (f"{OFA}:d=\u0662\u0662\u0662\u0662\u0662,res=160", ["not ASCII"]),
    (f"{OFA}:res=96", ["lacks"]),
    ("x" * 5000, ["longer than 4,096 bytes"]),
    (b"\xff\xfe", ["not UTF-8", "0xff"]),
])
def test_a_bad_line_is_named_and_what_came_before_stays_printed(cli, lut, ids, tmp_path, bad, names):
    f = tmp_path / "ids.txt"
    f.write_bytes("\n".join([*ids[:5], "", "# note"]).encode() + b"\n" + (bad if isinstance(bad, bytes)
                                                                         else bad.encode()) + b"\n" + b"never\n")
    code, out, err = cli("lut", "predict", str(f), "--lut", lut)
    one_line_error((code, out, err), f"{f}:8: ", *names)
    assert [line.split("\t")[0] for line in out.splitlines()] == ids[:5]


def test_json_of_a_file_is_one_document_and_left_unclosed_by_a_bad_line(cli, lut, ids, tmp_path):
    f = tmp_path / "ids.txt"
    f.write_text("\n".join(ids[:4]) + "\n")
    code, out, err = cli("lut", "predict", str(f), "--lut", lut, "--json", "--reference", GOOD)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["lut"] == lut and [p["variant"] for p in doc["predictions"]] == ids[:4]
    assert all(p["reference"] == GOOD and p["ratio"] > 0 for p in doc["predictions"])
    f.write_text("\n".join(ids[:4]) + "\nbogus\n")
    code, out, err = cli("lut", "predict", str(f), "--lut", lut, "--json")
    one_line_error((code, out, err), f"{f}:5: ")
    assert len(out.splitlines()) == 5   # the header and the four predictions before the bad line ...
    with pytest.raises(json.JSONDecodeError):   # ... in a document no reader takes for the whole
        json.loads(out)
    f.write_text("")
    code, out, err = cli("lut", "predict", str(f), "--lut", lut, "--json")
    assert code == 0 and json.loads(out)["predictions"] == []


def _predict(lut, ids_file, out_file, *args):
    """`lut predict` in a fresh process, its output to a file; (exit code, stderr, peak RSS in KiB)."""
    code = ("import resource, sys\n"
            "from mbv3bench.cli import main\n"
            "try:\n"
            "    main(sys.argv[1:])\n"
            "finally:\n"
            "    print('peak_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n")
    with open(out_file, "w") as out:
        done = subprocess.run([sys.executable, "-c", code, "lut", "predict", str(ids_file), "--lut", lut, *args],
                              stdout=out, stderr=subprocess.PIPE, text=True, timeout=600,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    err, peak = done.stderr.rsplit("peak_kib ", 1)
    return done.returncode, err, int(peak)


def test_a_big_file_streams_in_flat_memory(lut, ids, tmp_path):
    """200,000 IDs and a bad last line: every prediction before it is printed, the error names the
    line, and memory is what 1,000 IDs take (all held before printing, --json took ~3 KiB an ID)."""
    small, big = tmp_path / "small.txt", tmp_path / "big.txt"
    small.write_text("\n".join(ids) + "\n")
    big.write_text(("\n".join(ids) + "\n") * 200 + "bogus\n")
    code, err, small_peak = _predict(lut, small, tmp_path / "small.json", "--json")
    assert code == 0, err
    code, err, big_peak = _predict(lut, big, tmp_path / "big.json", "--json")
    assert code == 2 and err.startswith(f"error: {big}:200001: unknown network 'bogus'") and err.count("\n") == 1, err
    with open(tmp_path / "big.json") as f:
        lines = sum(1 for _ in f)
    assert lines == 1 + 200_000
    assert big_peak - small_peak < 64 * 1024, (small_peak, big_peak)


def test_a_reader_that_stops_early_stops_it_quietly(lut, ids, tmp_path):
    f = tmp_path / "ids.txt"
    f.write_text(("\n".join(ids) + "\n") * 20)   # ~2 MB of output: more than a pipe holds
    proc = subprocess.Popen([sys.executable, "-m", "mbv3bench.cli", "lut", "predict", str(f), "--lut", lut],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        first = proc.stdout.readline()
        proc.stdout.close()   # what `| head -1` does
        err = proc.stderr.read()
        assert proc.wait(timeout=120) == 141
    finally:
        proc.kill()
        proc.wait()
    assert first.startswith(ids[0].encode() + b"\t") and err == b""


def test_a_pipe_is_answered_line_by_line(lut, ids):
    """A search loop writes an ID and waits for its prediction before the next: each is printed as
    soon as it is predicted (a timer only stops a hung run from hanging the suite)."""
    proc = subprocess.Popen([sys.executable, "-m", "mbv3bench.cli", "lut", "predict", "/dev/stdin", "--lut", lut],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    guard = threading.Timer(300, proc.kill)
    guard.start()
    try:
        for vid in ids[:3]:
            proc.stdin.write(vid + "\n")
            proc.stdin.flush()
            assert proc.stdout.readline().split("\t")[0] == vid
        proc.stdin.close()
        assert proc.wait() == 0 and proc.stdout.read() == "" and proc.stderr.read() == ""
    finally:
        guard.cancel()
        proc.kill()
        proc.wait()
