"""`mbv3bench history VARIANT`: one cell's results over time and git revisions, from any store."""
from __future__ import annotations

import click

from ..core.errors import UserError
from ..options import db_option


@click.command()
@click.argument("variant")
@click.option("--device", help="Only this device's results (default: every device).")
@click.option("--runtime", help="Only this runtime's results (default: every runtime).")
@db_option()
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Also plot it: .svg for SVG, else PNG.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def history(variant, device, runtime, db, output, as_json):
    """Every stored result of VARIANT, oldest first: when, at which git revision, by the statistic
    it is headlined by, with its 95% interval. Only reads the store."""
    from ..core.output import check_output, dumps, num
    from ..core.registry import check_runtime
    from ..report.history import cell_of, draw_history, history_rows
    from ..store import Store
    from ..zoo.spec import parse_variant

    try:
        variant = str(parse_variant(variant))
    except UserError:   # not a variant ID: a model file's or an ingested log's name, as stored
        pass
    runtime = check_runtime(runtime) if runtime else None
    if output:
        check_output("-o", output, inputs={"--db": db.file})
    with Store(db, readonly=True) as store:
        rows = history_rows(store, variant, device, runtime)
    if not rows:
        raise UserError(f"no successful result of {variant} in {db}"
                        + "".join(f" {k} {v}" for k, v in (("on device", device), ("on runtime", runtime)) if v))
    if output:
        from pathlib import Path

        draw_history(rows, Path(output), variant)
    if as_json:
        return click.echo(dumps({"variant": variant, "store": str(db), "results": rows,
                                 **({"plot": output} if output else {})}))
    for cell in dict.fromkeys(map(cell_of, rows)):
        mine = [r for r in rows if cell_of(r) == cell]
        click.echo(f"{variant} on {cell}: {len(mine)} result(s)")
        for r in mine:
            lo, hi = r["ci95_ms"]
            click.echo(f"  {r['created_at'] or 'when unknown':19}  {(r['git_rev'] or 'no git rev')[:10]:10}  "
                       f"id {r['id']:<6} {r['statistic']} {num(r['value_ms'])} ms  95% CI {num(lo)}-{num(hi)}  "
                       f"n={num(r['n'], 'd')}" + ("  noisy" if r["noisy"] else ""))
    if output:
        click.echo(f"wrote {output}")
