"""`mbv3bench show ID`: one stored measurement with everything kept about it: what produced it, its
statistics, the device's state around it, and a phone run's evidence (the raw benchmark_model
output, the binary's sha256 and version, the exact command, the build fingerprint)."""
from __future__ import annotations

import click

from ..options import db_option


def _lines(value, indent: str = "  ") -> list[str]:
    """A nested mapping as indented `key: value` lines; long texts (raw logs) stay whole."""
    out = []
    for key, v in (value.items() if isinstance(value, dict) else enumerate(value)):
        if isinstance(v, (dict, list)) and v:
            out.append(f"{indent}{key}:")
            out += _lines(v, indent + "  ")
        elif isinstance(v, str) and "\n" in v:
            out.append(f"{indent}{key}: |")
            out += [f"{indent}  {line}" for line in v.splitlines()]
        else:
            out.append(f"{indent}{key}: {v}")
    return out


@click.command()
@click.argument("measurement_id", type=click.IntRange(1, 2**63 - 1), metavar="ID")   # SQLite's largest INTEGER
@db_option()
@click.option("--json", "as_json", is_flag=True, help="Print the result document (the JSON envelope).")
def show(measurement_id, db, as_json):
    """Everything the store keeps about measurement ID (the `id` of a result; `run` and `ingest` print it)."""
    from ..core.errors import UserError
    from ..core.output import dumps, num
    from ..core.results import envelope
    from ..store import Store

    with Store(db, readonly=True) as store:
        r = store.measurement(measurement_id)
    if r is None:
        raise UserError(f"no measurement {measurement_id} in {db}")
    if as_json:
        return click.echo(dumps(envelope([r], {"name": r.device})))
    ms, stat = r.headline()
    lo, hi = r.latency.ci95
    click.echo(f"measurement {r.id}: {r.variant} on {r.runtime} ({r.format}), device {r.device}, core {r.core}, "
               f"{r.threads} thread(s), status {r.status}" + (f": {r.error}" if r.error else ""))
    click.echo(f"latency: {stat} {num(ms)} ms, 95% CI {num(lo)}-{num(hi)}, n={num(r.n, 'd')}"
               + (f"; noisy: {r.noisy_reason}" if r.noisy else ""))
    click.echo(f"per layer: {len(r.per_layer)} row(s) summing to {num(r.per_layer_sum_ms)} ms; "
               f"samples kept: {len(r.samples_ms)}; artifact sha256 {r.artifact_sha256}")
    for title, value in (("settings", r.settings), ("device state", r.device_state), ("notes", r.notes)):
        if value:
            click.echo(f"{title}:")
            click.echo("\n".join(_lines(value)))
    if "evidence" not in r.device_state and r.device != "local":
        click.echo("evidence: none kept (ingested logs keep their file path in settings; phone runs of older "
                   "versions kept no raw output)")
