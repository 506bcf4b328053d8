"""`devices` and `ingest`: the phone-side commands. Heavy imports stay inside the commands."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import click

from ..core.errors import UserError
from ..core.untrusted import MiB, read_bytes

LOG_LIMIT = 64 * MiB    # a log with per-op tables of a large model is a few MB


def _probe(serial: str, transport: str) -> dict:
    from .target import LINK_ERRORS, connect, phone_info

    try:
        device = connect(serial)
        try:
            info = phone_info(device)
        finally:
            device.close()
    except UserError as e:
        return {"serial": serial, "transport": transport, "reachable": False, "error": str(e)}
    except LINK_ERRORS as e:
        return {"serial": serial, "transport": transport, "reachable": False, "error": f"{serial}: {e}"}
    return {"serial": serial, "transport": transport, "reachable": True, **info}


@click.command()
@click.option("--serial", "serials", multiple=True, help="A phone's HOST:PORT (adb tcpip) to check; repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def devices(serials: tuple[str, ...], as_json: bool):
    """The device profiles (devices/*.yaml) and the phones reachable now."""
    from ..targets.profiles import device_names, load_device
    from .target import usb_serials

    profiles = []
    for name in device_names():
        p = load_device(name)
        profiles.append({"name": name, "kind": p["kind"], "description": p.get("description"),
                         "model": p.get("model"), "soc": p.get("soc"), "large_cores": p.get("large_cores")})
    phones = [_probe(s, "tcp") for s in serials]
    try:
        usb, usb_note = usb_serials(), None
    except UserError as e:  # a missing USB stack is a fact to report, not a failure
        usb, usb_note = [], f"USB not checked: {e}"
    phones += [_probe(s, "usb") for s in usb]
    if as_json:
        return click.echo(json.dumps({"profiles": profiles, "phones": phones, "usb_note": usb_note}, indent=2))
    click.echo("profiles:")
    for p in profiles:
        what = p["description"] or ""
        cores = f"; large cores {', '.join(map(str, p['large_cores']))}" if p["large_cores"] else ""
        click.echo(f"  {p['name']:<10} {p['kind']:<8} {what}{cores}")
    click.echo("phones reachable now:")
    for ph in phones:
        if ph["reachable"]:
            click.echo(f"  {ph['serial']} ({ph['transport']}): {ph['model']}, Android {ph['android']}, {ph['abi']}")
        else:
            click.echo(f"  {ph['serial']} ({ph['transport']}): not reachable: {ph['error']}")
    if not any(ph["reachable"] for ph in phones):
        click.echo("  none attached" + ("" if serials else " (no --serial HOST:PORT given)"))
    if usb_note:
        click.echo(usb_note)


def log_result(log, *, variant: str, device: str, source: str):
    """A parsed benchmark_model log as a Result: per_layer is the Run Order table as printed, one
    row per line, and the initialisation table is kept apart."""
    from dataclasses import replace

    from ..core.results import LayerTime, RawMeasurement
    from ..runner import Subject, result_of

    subject = Subject(variant, "litert", "tflite", None, None, None, ())
    result = result_of(RawMeasurement(summary=log.summary_ms()), subject, device=device, core=None,
                       settings={"source": "benchmark_model log", "log": source, "log_format": log.fmt})
    return replace(result,
                   per_layer=[LayerTime(r.name, r.node_type, r.avg_ms) for r in log.ops],
                   per_layer_sum_ms=log.ops_sum_ms,
                   init_layers=[LayerTime(r.name, r.node_type, r.avg_ms) for r in log.init_ops],
                   notes=[] if log.avg_us is not None else
                   ["the log has no end-to-end average (e.g. a profiler-only fragment); latency is null"])


@click.command()
@click.argument("logfile", type=click.Path(exists=True, dir_okay=False))
@click.option("--device", default="external", show_default=True, help="The device the log was run on.")
@click.option("--variant", help="The variant measured (default: the log file's name).")
@click.option("--db", default="reports/results.sqlite", show_default=True, type=click.Path(dir_okay=False),
              help="The results store (SQLite).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (the run JSON's result shape).")
def ingest(logfile: str, device: str, variant: str | None, db: str, as_json: bool):
    """Store a benchmark_model log run elsewhere (any benchmark_model version) in the results store."""
    from ..core.output import dumps
    from ..core.results import envelope
    from ..store import Store, measurement_key
    from .benchmark_log import BenchmarkLogError, parse_benchmark_log

    path = Path(logfile)
    data = read_bytes(path, LOG_LIMIT, "a benchmark_model log")
    try:
        log = parse_benchmark_log(data.decode("utf-8", "replace"))
    except BenchmarkLogError as e:
        raise UserError(f"{logfile}: {e}") from None
    if variant:
        from ..zoo.spec import parse_variant

        variant = str(parse_variant(variant))
    result = log_result(log, variant=variant or path.stem, device=device, source=str(path))
    # keyed by the log's bytes, so ingesting the same file twice stores it once
    key = measurement_key(result.variant, hashlib.sha256(data).hexdigest(), "litert", device, result.settings)
    with Store(db) as store:
        stored = store.has(key)
        if not stored:
            run_id = store.start_run({"ingest": str(path)})
            store.add_measurement(run_id, key, result)
        result = store.measurement_by_key(key)
    if as_json:
        return click.echo(dumps(envelope([result], {"name": device, "kind": "external"}, source=str(path))))
    lat = result.latency
    mean = f"{lat.mean:.3f} ms mean over {result.n} runs" if lat.mean is not None else "no end-to-end time"
    layers = (f"{len(result.per_layer)} op rows summing to {result.per_layer_sum_ms:.3f} ms"
              if result.per_layer else "no op rows")
    click.echo(f"{path.name} (benchmark_model log, {log.fmt} format, device {device}): {mean}; {layers}; "
               f"{'already in' if stored else 'stored in'} {db} (id {result.id})")
    for note in result.notes:
        click.echo(f"note: {note}")
