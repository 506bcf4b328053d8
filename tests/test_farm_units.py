"""The farm's parts that need no cluster: a host's artifact cache (one folder per session, gone
when the session closes or, if it was killed, when the next session on that host starts), and how
the display shows each device."""
import subprocess
import sys
import tempfile

import pytest

from mbv3bench.targets.farm_device import DeviceSession, _materialized, session_cache


@pytest.fixture
def tmp_root(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_sessions_folder_is_removed_by_the_next_and_live_ones_kept(tmp_root):
    first = session_cache()
    root = first.parent
    dead, live, other = root / str(_dead_pid()), root / "1", root / "not-a-session"
    for folder in (dead, live, other):
        (folder / "abc").mkdir(parents=True)
    assert session_cache() == first
    assert not dead.exists() and live.exists() and other.exists()


def test_artifacts_are_kept_by_content_with_their_companions(tmp_root):
    cache = session_cache()
    paths = _materialized(cache, [["a.pte", "a.etrecord"], None, ["b.tflite"]], (b"program", b"record", b"program"))
    assert paths[1] is None and paths[0].endswith("a.pte") and paths[2].endswith("b.tflite")
    (folder,) = cache.iterdir()   # the same bytes: one folder
    assert sorted(f.name for f in folder.iterdir()) == ["a.etrecord", "a.pte", "b.tflite"]
    assert (folder / "a.etrecord").read_bytes() == b"record"

def test_a_closed_session_leaves_nothing_on_the_host(tmp_root):
    session = DeviceSession("mbv3bench_device_pixel3_00000000")
    _materialized(session.cache, [["m.tflite"]], (b"model",))
    assert session.cache.is_dir()
    session.close()
    assert not session.cache.exists()
    session.close()


def test_the_display_shows_how_far_each_device_is():
    from mbv3bench.progress import farm_lines
    from mbv3bench.targets.farm import DeviceActivity, FarmActivity
    from mbv3bench.targets.farm_device import FarmDevice

    phone = FarmDevice("mbv3bench_device_pixel3_0001", "pixel3", "host-a", serial="PHONE01")
    core = FarmDevice("mbv3bench_device_local_0002", "local", "host-b", core=3)
    gone = FarmDevice("mbv3bench_device_pixel3_0003", "pixel3", "host-c", serial="PHONE03")
    lines = farm_lines(FarmActivity([
        DeviceActivity(phone, "a, b", done=2, progress={"labels": ["a", "b"], "phase": "timing", "done": 3,
                                                   "unit": "rounds", "elapsed_s": 12.4, "eta_s": 20.0}),
        DeviceActivity(core, "c", done=0, progress={"labels": ["c"], "phase": "profiling", "done": 3,
                                               "unit": "processes", "elapsed_s": 5.0, "eta_s": None}),
        DeviceActivity(gone, None, done=1, out="its node left the farm", progress=None)], remaining=4, eta_s=60))
    assert lines == [
        "farm: 4 group(s) left on 2 device(s), about 60 s to go",
        "  PHONE01 (host-a): measuring a, b (rounds done: 3, 12 s, about 20 s left); 2 group(s) done",
        "  host-b core 3 (host-b): measuring c (profiling, 5 s); 0 group(s) done",
        "  PHONE03 (host-c): out: its node left the farm; 1 group(s) done"]
