"""A real PostgreSQL server for the tests (and benchmarks/store_backends.py), from the machine's own
binaries: initdb refuses root, so as root the server runs as the `postgres` user in a folder it owns
under /tmp (root's home is closed to it); otherwise as the current user. It listens on 127.0.0.1
and a free port only, trusts its superuser `postgres` and keeps one user, `secret`, whose password
is checked (scram-sha-256). Stopped, and its folder removed, at the end."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PASSWORD = "s3cret-Pw"   # the `secret` user's: tests check it never shows
DEBIAN_BINS = Path("/usr/lib/postgresql")   # Debian's server package: one folder per major version
HBA = """local all all trust
host all secret 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
"""


def binaries() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres; None when the machine has no PostgreSQL."""
    found = shutil.which("initdb")
    folders = [Path(found).resolve().parent] if found else sorted(DEBIAN_BINS.glob("*/bin"), reverse=True)
    return next((f for f in folders if all((f / b).is_file() for b in ("initdb", "pg_ctl", "postgres"))), None)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    port: int
    folder: Path

    def url(self, db: str = "postgres", user: str = "postgres", password: str | None = None) -> str:
        auth = f"{user}:{password}" if password else user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{db}"

    def sql(self, statement: str, db: str = "postgres") -> list[tuple]:
        """A statement as the superuser, outside any transaction (CREATE DATABASE needs that)."""
        import psycopg

        with psycopg.connect(self.url(db), autocommit=True) as con:
            cur = con.execute(statement)
            return cur.fetchall() if cur.description else []

    def new_database(self) -> str:
        """A fresh, empty database's URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.sql(f"CREATE DATABASE {name}")
        return self.url(name)


@contextmanager
def pg_server(durable: bool = False):
    """DURABLE: sync every commit to disk, as a real server does (the tests' server does not: faster)."""
    folder_bin = binaries()
    if folder_bin is None:
        raise FileNotFoundError("no PostgreSQL server binaries (initdb) on PATH or in /usr/lib/postgresql/*/bin")
    folder = Path(tempfile.mkdtemp(dir="/tmp", prefix="mbv3bench-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(folder, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()

    def run(*args: str) -> None:
        done = subprocess.run([*as_user, *args], capture_output=True, text=True, cwd=folder)
        if done.returncode:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip()[-2000:]}")

    try:
        run(str(folder_bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            *([] if durable else ["--no-sync"]))
        (data / "pg_hba.conf").write_text(HBA)   # root writes it; the server only reads it
        run(str(folder_bin / "pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "log"), "-o",
            f"-h 127.0.0.1 -p {port} -k {folder} -c fsync={'on' if durable else 'off'}"
            " -c password_encryption=scram-sha-256", "start")
        try:
            server = PgServer(port, folder)
            server.sql(f"CREATE ROLE secret LOGIN PASSWORD '{PASSWORD}'")
            server.sql("CREATE DATABASE mbv3 OWNER secret")
            yield server
        finally:
            run(str(folder_bin / "pg_ctl"), "-D", str(data), "-w", "-m", "fast", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
