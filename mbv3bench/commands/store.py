"""`store copy SRC DST` and `store info DB`: moving results between stores (SQLite <-> PostgreSQL)
and saying what one holds."""
from __future__ import annotations

import click

from ..core.errors import UserError
from ..options import db_address


@click.group()
def store():
    """Results stores: copy one into another, say what one holds. A store is an SQLite file or a
    PostgreSQL URL (postgresql://USER@HOST[:PORT]/DATABASE)."""


@store.command("copy")
@click.argument("src", callback=db_address)
@click.argument("dst", callback=db_address)
def copy_command(src, dst):
    """Copy every run, measurement (with its samples and layers), artifact and calibration of SRC
    that DST lacks into DST. Copying again adds nothing; SRC is only read."""
    from ..core.output import check_not_input
    from ..store import Store
    from ..store.copy import copy_store

    if str(src) == str(dst):
        raise UserError(f"store copy: SRC and DST are the same store {src}; give two stores")
    check_not_input("DST", dst.file, {"SRC": src.file})
    with Store(src, readonly=True) as source, Store(dst) as target:
        done = copy_store(source, target)
    tables = ("measurements", "samples", "layers", "runs", "artifacts", "calibrations")
    click.echo(f"copied {src} into {dst}: " + ", ".join(
        f"{done.added.get(t, 0)} {t}" + (f" ({done.present[t]} there already)" if done.present.get(t) else "")
        for t in tables))


@store.command("info")
@click.argument("db", callback=db_address)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info_command(db, as_json):
    """What the store DB holds: measurements per device, runtime and variant (successful and
    failed), rows per table, its schema version and its size. Only reads."""
    from ..core.output import dumps
    from ..store import Store
    from ..store.copy import store_info

    with Store(db, readonly=True) as s:
        doc = store_info(s)
    if as_json:
        return click.echo(dumps(doc))
    size = "size unknown" if doc["size_bytes"] is None else f"{doc['size_bytes'] / 1e6:.2f} MB"
    click.echo(f"{doc['store']} ({doc['backend']}, schema version {doc['schema_version']}, {size})")
    click.echo("rows: " + ", ".join(f"{n} {t}" for t, n in doc["tables"].items()))
    if not doc["cells"]:
        return click.echo("no measurements")
    from rich.table import Table

    from ..ui import console

    table = Table(title="measurements per device, runtime and variant")
    for col in ("device", "runtime", "variant", "ok", "failed"):
        table.add_column(col, justify="right" if col in ("ok", "failed") else "left")
    for c in doc["cells"]:
        table.add_row(c["device"] or "", c["runtime"] or "", c["variant"] or "", str(c["ok"]), str(c["failed"]))
    console().print(table)
