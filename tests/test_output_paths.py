"""Every file a command writes, treated as a hostile but fair user would name it: one of the
command's own inputs (also through a symlink or a hard link), a symlink, a FIFO, a folder, a file
with its own mode, a folder that is missing or full. Through the CLI: an output that would destroy
an input or replace what the path is, or that cannot be written, is one `error:` line and exit 2
before any work; a write goes through links and keeps the file's mode."""
import errno
import fcntl
import hashlib
import mmap
import os
import shutil
import stat
import subprocess

import pytest

from conftest import REPO, SMALL

REFERENCE_DB = REPO / "reports" / "reference" / "results.sqlite"
REFERENCE_LUT = REPO / "reports" / "reference" / "lut" / "ofa_mobilenet_v3-160.json"


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_error_line(code, stdout, stderr):
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, stderr)
    assert not stdout.strip(), stdout   # refused before any work: no verdict, no table, no "wrote"
    return lines[0]


@pytest.fixture
def inputs(tmp_path, cli):
    """A store, a lookup table and a saved baseline of the user's, in tmp_path."""
    shutil.copy(REFERENCE_DB, tmp_path / "S.sqlite")
    shutil.copy(REFERENCE_LUT, tmp_path / "T.json")
    code, _, err = cli("baseline", "save", str(tmp_path / "B.json"), "--db", str(tmp_path / "S.sqlite"))
    assert code == 0, err
    return tmp_path


# (arguments, the input the output names); {t} is tmp_path, L a symlink and H a hard link made to the input
SAME_AS_INPUT = [
    (["baseline", "save", "{t}/S.sqlite", "--db", "{t}/S.sqlite"], "S.sqlite"),
    (["baseline", "save", "{t}/L", "--from", "{t}/B.json"], "B.json"),
    (["baseline", "save", "{t}/H", "--db", "{t}/S.sqlite"], "S.sqlite"),
    (["lut", "export", "{t}/T.json", "--format", "ofa", "-o", "{t}/T.json"], "T.json"),
    (["lut", "export", "{t}/L", "--format", "csv", "-o", "{t}/T.json"], "T.json"),
    (["lut", "export", "{t}/T.json", "--format", "csv", "-o", "{t}/H"], "T.json"),
    (["lut", "build", "--space", "ofa_mobilenet_v3", "--res", "160", "--db", "{t}/S.sqlite", "-o", "{t}/L"],
     "S.sqlite"),
    (["lut", "validate", "--lut", "{t}/T.json", "--plot", "{t}/H", "--db", "{t}/r.sqlite"], "T.json"),
    (["lut", "fit", "--lut", "{t}/T.json", "--db", "{t}/L"], "T.json"),
    (["compare", "{t}/B.json", "{t}/B.json", "--summary", "{t}/L"], "B.json"),
    (["plot", "--figure", "1", "--db", "{t}/S.sqlite", "-o", "{t}/H"], "S.sqlite"),
    (["run", "--models", SMALL, "--runtimes", "litert", "--db", "{t}/S.sqlite", "--json", "{t}/L",
      "--out-dir", "{t}/out"], "S.sqlite"),
    # the store is written too: it may not be another input either
    (["lut", "validate", "--lut", "{t}/T.json", "--db", "{t}/L"], "T.json"),
    (["ingest", "{t}/B.json", "--db", "{t}/H"], "B.json"),
    (["compare", "--ab", "{t}/T.json", SMALL, "--db", "{t}/L"], "T.json"),
    (["plot", "--figure", "1", "--measure", "--accuracy", "{t}/B.json", "--db", "{t}/H", "-o", "{t}/f.png"], "B.json"),
]


@pytest.mark.parametrize("args,source", SAME_AS_INPUT, ids=lambda x: " ".join(x[:2]) if isinstance(x, list) else x)
def test_an_output_that_is_an_input_is_refused(cli, inputs, args, source):
    (inputs / "L").symlink_to(inputs / source)
    os.link(inputs / source, inputs / "H")
    before = {p.name: _sha(p) for p in inputs.iterdir() if p.is_file() and not p.is_symlink()}
    code, out, err = cli(*[a.format(t=inputs) for a in args])
    line = _one_error_line(code, out, err)
    assert "which this command reads" in line
    assert {p.name: _sha(p) for p in inputs.iterdir() if p.is_file() and not p.is_symlink()} == before
    assert (inputs / "L").is_symlink() and os.stat(inputs / "H").st_ino == os.stat(inputs / source).st_ino
    assert not (inputs / "r.sqlite").exists()   # nothing measured


def test_a_report_folder_holding_the_store_is_refused(cli, inputs):
    """report writes table3.md, index.md ... into its folder: a store of that name is an input."""
    (inputs / "rep").mkdir()
    shutil.copy(inputs / "S.sqlite", inputs / "rep" / "index.md")
    before = _sha(inputs / "rep" / "index.md")
    code, out, err = cli("report", "-o", str(inputs / "rep"), "--db", str(inputs / "rep" / "index.md"))
    assert "index.md" in _one_error_line(code, out, err)
    assert _sha(inputs / "rep" / "index.md") == before and sorted(os.listdir(inputs / "rep")) == ["index.md"]


# commands that write FILE successfully, given {t} (the inputs) and {out} (the output path)
WRITERS = [
    ["lut", "export", "{t}/T.json", "--format", "csv", "-o", "{out}"],
    ["baseline", "save", "{out}", "--from", "{t}/B.json"],
    ["compare", "{t}/B.json", "{t}/B.json", "--summary", "{out}"],
    ["plot", "--figure", "1", "--db", "{t}/S.sqlite", "-o", "{out}"],
]
WRITER_IDS = [" ".join(a[:2]) for a in WRITERS]


def _run(cli, args, t, out):
    code, stdout, err = cli(*[a.format(t=t, out=out) for a in args])
    assert code == 0, err
    return stdout


@pytest.mark.parametrize("args", WRITERS, ids=WRITER_IDS)
def test_a_symlink_stays_a_symlink_and_its_target_keeps_its_mode(cli, inputs, args):
    real = inputs / "kept" / "real.out"
    real.parent.mkdir()
    real.write_bytes(b"old\n")
    real.chmod(0o640)
    link = inputs / "link.out"
    link.symlink_to(real)
    _run(cli, args, inputs, link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes() != b"old\n" and real.stat().st_size > 100
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert not [p for p in real.parent.iterdir() if p != real]   # no temporary file left beside it


@pytest.mark.parametrize("args", WRITERS, ids=WRITER_IDS)
def test_a_hard_linked_output_is_written_into_every_name(cli, inputs, args):
    out, other = inputs / "out.file", inputs / "other-name"
    out.write_bytes(b"old\n")
    os.link(out, other)
    _run(cli, args, inputs, out)
    assert os.stat(out).st_ino == os.stat(other).st_ino and other.read_bytes() == out.read_bytes() != b"old\n"


@pytest.mark.parametrize("args", WRITERS, ids=WRITER_IDS)
def test_a_new_output_gets_the_mode_any_program_gives(cli, inputs, args):
    old = os.umask(0o027)
    try:
        _run(cli, args, inputs, inputs / "new.file")
    finally:
        os.umask(old)
    assert stat.S_IMODE((inputs / "new.file").stat().st_mode) == 0o640   # 0666 less the umask, not mkstemp's 0600


def test_a_summary_is_appended_to(cli, inputs):
    summary = inputs / "summary.md"
    summary.write_text("# earlier step\n")
    _run(cli, WRITERS[2], inputs, summary)
    text = summary.read_text()
    assert text.startswith("# earlier step\n") and "mbv3bench compare" in text


def _export_name():
    from mbv3bench.export.artifacts import artifact_path

    return artifact_path(SMALL, "onnx").name


# commands and where their output goes, as {out}; a FIFO or a folder is put there
NOT_REGULAR = WRITERS + [
    ["report", "-o", "{t}", "--db", "{t}/S.sqlite"],   # {out} is its index.md
    ["export", SMALL, "--format", "onnx", "-o", "{t}"],   # {out} is the copy's name
    ["devices", "add", "myphone", "--devices-dir", "{t}", "--force", "--serial", "127.0.0.1:1"],   # myphone.yaml
    ["run", "--models", SMALL, "--runtimes", "litert", "--db", "{t}/r.sqlite", "--json", "{out}",
     "--out-dir", "{t}/out"],
    ["lut", "validate", "--lut", "{t}/T.json", "--plot", "{out}", "--db", "{t}/r.sqlite"],
]


def _out_of(args, t):
    if args[0] == "report":
        return t / "index.md"
    if args[0] == "export":
        return t / _export_name()
    if args[0] == "devices":
        return t / "myphone.yaml"
    return t / "out.file"


@pytest.mark.parametrize("kind", ["fifo", "folder"])
@pytest.mark.parametrize("args", NOT_REGULAR, ids=[" ".join(a[:2]) for a in NOT_REGULAR])
def test_an_output_that_is_not_a_regular_file_is_refused(cli, inputs, args, kind):
    out = _out_of(args, inputs)
    if kind == "fifo":
        os.mkfifo(out)
        reader = os.open(out, os.O_RDONLY | os.O_NONBLOCK)   # a wrong write finds a reader instead of hanging,
        fcntl.fcntl(reader, fcntl.F_SETPIPE_SZ, 1 << 20)      # and room for a whole figure
    else:
        out.mkdir()
    try:
        code, stdout, err = cli(*[a.format(t=inputs, out=out) for a in args])
        line = _one_error_line(code, stdout, err)
        assert str(out) in line
        assert "a FIFO" in line if kind == "fifo" else ("a folder" in line or "is a directory" in line)   # click's own
        if kind == "fifo":
            assert stat.S_ISFIFO(os.lstat(out).st_mode)
            assert os.read(reader, 1) == b""   # nothing was written into it (no writer: end of file)
        else:
            assert out.is_dir() and not os.listdir(out)
    finally:
        if kind == "fifo":
            os.close(reader)
    assert not (inputs / "r.sqlite").exists()


# outputs whose folder is missing; each command stops before reading or measuring anything
MISSING_FOLDER = [
    ["compare", "{t}/B.json", "{t}/B.json", "--summary", "{out}"],
    ["compare", "--ab", SMALL, SMALL, "--db", "{t}/r.sqlite", "--summary", "{out}"],
    ["baseline", "save", "{out}", "--db", "{t}/S.sqlite"],
    ["lut", "export", "{t}/T.json", "--format", "ofa", "-o", "{out}"],
    ["lut", "build", "--space", "ofa_mobilenet_v3", "--res", "160", "--db", "{t}/r.sqlite", "-o", "{out}"],
    ["lut", "validate", "--lut", "{t}/T.json", "--plot", "{out}", "--db", "{t}/r.sqlite"],
    ["run", "--models", SMALL, "--runtimes", "litert", "--db", "{t}/r.sqlite", "--json", "{out}",
     "--out-dir", "{t}/out"],
    ["plot", "--figure", "1", "--db", "{t}/S.sqlite", "-o", "{out}"],
]


@pytest.mark.parametrize("args", MISSING_FOLDER, ids=[" ".join(a[:3]) for a in MISSING_FOLDER])
def test_an_output_in_a_missing_folder_fails_before_the_work(cli, inputs, args):
    out = inputs / "missing" / "dir" / "x.out"
    code, stdout, err = cli(*[a.format(t=inputs, out=out) for a in args])
    assert "does not exist" in _one_error_line(code, stdout, err)
    assert not (inputs / "missing").exists() and not (inputs / "r.sqlite").exists()


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs filled to the last byte, unmounted after the test."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}): a full disk needs one")
    try:
        fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            with pytest.raises(OSError) as full:
                while True:
                    os.write(fd, b"\0" * 4096)
            assert full.value.errno == errno.ENOSPC
        finally:
            os.close(fd)
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


FULL_DISK = [
    ["lut", "export", "{t}/T.json", "--format", "csv", "-o", "{full}/x.csv"],
    ["baseline", "save", "{full}/b.json", "--from", "{t}/B.json"],
    ["compare", "{t}/B.json", "{t}/B.json", "--summary", "{full}/s.md"],
    ["plot", "--figure", "1", "--db", "{t}/S.sqlite", "-o", "{full}/f.png"],
    ["report", "-o", "{full}", "--db", "{t}/S.sqlite"],
    ["run", "--models", SMALL, "--runtimes", "litert", "--db", "{t}/r.sqlite", "--json", "{full}/r.json",
     "--out-dir", "{t}/out"],
    ["run", "--models", SMALL, "--runtimes", "litert", "--db", "{t}/r.sqlite", "--out-dir", "{full}"],
]


@pytest.mark.parametrize("read_only", [False, True], ids=["full", "full and read-only"])
@pytest.mark.parametrize("args", FULL_DISK, ids=[" ".join(a[:2]) + (" " + a[-4] if a[0] == "run" else "")
                                                 for a in FULL_DISK])
def test_a_full_disk_fails_the_check_not_the_write(cli, inputs, full_disk, args, read_only):
    """The old probe wrote 0 bytes and passed on a full disk; a real one fails before the work,
    and says why."""
    if read_only:
        subprocess.run(["mount", "-o", "remount,ro", str(full_disk)], check=True)
    code, stdout, err = cli(*[a.format(t=inputs, full=full_disk) for a in args])
    assert ("read-only file system" if read_only else "disk full") in _one_error_line(code, stdout, err)
    assert sorted(os.listdir(full_disk)) == ["filler"]   # no probe or temporary file left
    assert not (inputs / "r.sqlite").exists()


def test_an_existing_output_on_a_full_disk_is_left_whole(cli, inputs, full_disk):
    """Room for the probe but not for the table: the write takes its room before it touches the old file."""
    (full_disk / "filler").unlink()
    (full_disk / "x.csv").write_bytes(b"old\n")
    fd = os.open(full_disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        with pytest.raises(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
        os.ftruncate(fd, os.fstat(fd).st_size - 3 * mmap.PAGESIZE)   # 3 pages free: the probe's 8 KiB fit
    finally:
        os.close(fd)
    code, stdout, err = cli("lut", "export", str(inputs / "T.json"), "--format", "csv", "-o", str(full_disk / "x.csv"))
    assert "disk full" in _one_error_line(code, stdout, err)   # the table is 21 KB
    assert (full_disk / "x.csv").read_bytes() == b"old\n" and sorted(os.listdir(full_disk)) == ["filler", "x.csv"]


def test_an_exported_copy_goes_through_a_symlink_and_never_onto_the_cache(cli, tmp_path, shared_artifact_cache):
    """`export -o DIR` copies the cached file: through a symlink of that name, keeping its target's
    mode; a DIR that is the cache's own folder would copy the file onto itself."""
    name = _export_name()
    real = tmp_path / "real.onnx"
    real.write_bytes(b"old")
    real.chmod(0o604)
    (tmp_path / name).symlink_to(real)
    code, out, err = cli("export", SMALL, "--format", "onnx", "-o", str(tmp_path))
    assert code == 0, err
    cached = shared_artifact_cache / "onnx" / name
    assert (tmp_path / name).is_symlink() and real.read_bytes() == cached.read_bytes()
    assert stat.S_IMODE(real.stat().st_mode) == 0o604
    before = _sha(cached)
    code, out, err = cli("export", SMALL, "--format", "onnx", "-o", str(cached.parent))
    assert "the cached artifact" in _one_error_line(code, out, err) and _sha(cached) == before


@pytest.mark.parametrize("args", [
    ["run", "--device", "mine", "--models", SMALL, "--runtimes", "litert", "--db", "{t}/r.sqlite", "--json", "{out}",
     "--out-dir", "{t}/out"],
    ["lut", "build", "--space", "ofa_mobilenet_v3", "--res", "160", "--device", "mine", "--db", "{t}/r.sqlite",
     "-o", "{out}"],
    ["run", "--device", "mine", "--models", SMALL, "--runtimes", "litert", "--db", "{out}", "--out-dir", "{t}/out"],
    ["lut", "build", "--space", "ofa_mobilenet_v3", "--res", "160", "--device", "mine", "--db", "{out}",
     "-o", "{t}/T.json"],
], ids=["run --json", "lut build -o", "run --db", "lut build --db"])
def test_the_device_profile_measured_on_is_an_input(cli, tmp_path, monkeypatch, args):
    """A profile of the user's own, in their devices folder, named as the output through a symlink."""
    (tmp_path / "devs").mkdir()
    profile = tmp_path / "devs" / "mine.yaml"
    shutil.copy(REPO / "devices" / "local.yaml", profile)
    monkeypatch.setenv("MBV3BENCH_DEVICES_DIR", str(tmp_path / "devs"))
    (tmp_path / "L").symlink_to(profile)
    before = _sha(profile)
    code, out, err = cli(*[a.format(t=tmp_path, out=tmp_path / "L") for a in args])
    assert "the device profile" in _one_error_line(code, out, err)
    assert _sha(profile) == before and (tmp_path / "L").is_symlink()
    assert sorted(os.listdir(tmp_path)) == ["L", "devs"]   # no store, no --out-dir made


@pytest.mark.parametrize("args", WRITERS, ids=WRITER_IDS)
def test_a_device_node_behind_a_symlink_is_refused_and_kept(cli, inputs, args):
    """As root, `-o /dev/full` once replaced the system's /dev/full: a node of its numbers made here
    (never a real /dev one, never opened), named through a symlink, stays that node."""
    node = inputs / "full-node"
    try:
        os.mknod(node, stat.S_IFCHR | 0o600, os.makedev(1, 7))
    except PermissionError as e:
        pytest.skip(f"cannot make a device node here ({e})")
    (inputs / "link.out").symlink_to(node)
    code, stdout, err = cli(*[a.format(t=inputs, out=inputs / "link.out") for a in args])
    assert "a character device" in _one_error_line(code, stdout, err)
    assert stat.S_ISCHR(os.lstat(node).st_mode) and os.lstat(node).st_rdev == os.makedev(1, 7)
    assert (inputs / "link.out").is_symlink()
