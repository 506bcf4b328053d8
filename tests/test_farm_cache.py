"""A farm host's artifact cache: one folder per session, gone when the session closes or, if it
was killed, when the next session on that host starts."""
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
