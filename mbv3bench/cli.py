"""The command line: a thin Click layer over the modules. Heavy imports (torch, runtimes) happen
inside the commands that need them, so `mbv3bench --help` answers at once."""
from __future__ import annotations

import json
import sys

import click

from .errors import UserError


class _Cli(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mbv3bench")
def main():
    """Measure MobileNetV3-family latency, layer by layer, the way the paper did.

    Variants are named NAME[:key=value,...], e.g. mobilenet_v3_large:width=0.75,res=160.
    Knobs: width, res, act (relu | hswish@N), hswish (fused | naive), se (on | off),
    minimal, reduced_tail, dilated, last_channel (fixed | scaled).
    """


def _print_json(doc) -> None:
    click.echo(json.dumps(doc, indent=2))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models(as_json: bool):
    """List the networks of the catalog (models/*.yaml) with their cost at width 1."""
    from .arch import resolve
    from .cost import summary
    from .spec import catalog, load_spec

    rows = []
    for name in catalog():
        spec, s = load_spec(name), summary(resolve(name))
        rows.append({"name": name, "title": spec.title, "resolution": spec.resolution,
                     "knobs": list(spec.knobs), "madds": s["madds"], "params": s["params"]})
    if as_json:
        return _print_json(rows)
    from rich.table import Table

    from .ui import console

    table = Table(title="mbv3bench catalog (cost at width 1, analytic)")
    for col in ("name", "title", "res", "MAdds (M)", "params (M)", "knobs"):
        table.add_column(col, justify="right" if "(M)" in col or col == "res" else "left")
    for r in rows:
        table.add_row(r["name"], r["title"], str(r["resolution"]), f"{r['madds'] / 1e6:.1f}",
                      f"{r['params'] / 1e6:.3f}", ", ".join(r["knobs"]))
    console().print(table)


def _shape(s) -> str:
    return "x".join(map(str, s))


@main.command()
@click.argument("variant")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def summary(variant: str, as_json: bool):
    """Per-layer shapes, MAdds, parameters and bytes moved of VARIANT."""
    from .arch import resolve
    from .cost import summary as cost_summary

    doc = cost_summary(resolve(variant))
    if as_json:
        return _print_json(doc)
    from rich.table import Table

    from .ui import console

    table = Table(title=f"{doc['variant']} at {doc['resolution']}x{doc['resolution']} "
                        "(analytic: MAdds of conv/linear, bytes = float32 activations in+out + weights)")
    for col in ("layer", "op", "in", "out", "MAdds", "params", "bytes"):
        table.add_column(col, justify="right" if col in ("MAdds", "params", "bytes") else "left")
    for r in doc["layers"]:
        table.add_row(r["name"], r["op"], _shape(r["in_shape"]), _shape(r["out_shape"]), f"{r['madds']:,}",
                      f"{r['params']:,}", f"{r['bytes']:,}")
    total_bytes = sum(r["bytes"] for r in doc["layers"])
    table.add_row("total", "", "", "", f"{doc['madds']:,}", f"{doc['params']:,}", f"{total_bytes:,}", style="bold")
    console().print(table)
