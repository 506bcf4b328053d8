"""`devices` and `ingest`: the phone-side commands. Heavy imports stay inside the commands."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import click

from ..core.errors import UserError
from ..core.untrusted import MiB, read_bytes
from ..options import db_option

LOG_LIMIT = 64 * MiB    # a log with per-op tables of a large model is a few MB
from ..targets.android.transport import MODES


def _probe(open_link, serial: str, transport: str, link: str) -> dict:
    """What one phone says about itself over one route; why not, when it cannot be reached."""
    from ..targets.android.phone import phone_info
    from ..targets.android.transport import LinkLost

    row = {"serial": serial, "transport": transport, "link": link}
    try:
        handle = open_link()
        try:
            info = phone_info(handle)
        finally:
            handle.close()
    except UserError as e:
        return {**row, "reachable": False, "error": str(e)}
    except LinkLost as e:
        return {**row, "reachable": False, "error": f"{serial}: the link failed ({e})"}
    return {**row, "reachable": True, **info}


def reachable_phones(serials: tuple[str, ...], transport: str) -> tuple[list[dict], list[str]]:
    """The phones the adb server lists and those reached directly (--serial HOST:PORT not known to
    the server; USB only without a server, which would hold the USB phones), with notes."""
    from ..targets.android import server
    from ..targets.android.direct import DirectTransport, usb_serials

    phones, notes = [], []
    view = server.probe() if transport != "direct" else None
    if transport != "direct":
        notes.append(f"{view.route}: {len(view.devices)} phone(s) listed" if view else server.absent())
    for serial, state in view.devices if view else ():
        if state == "device":
            phones.append(_probe(lambda s=serial: server.ServerTransport(view, s), serial, "server", view.route))
        else:
            phones.append({"serial": serial, "transport": "server", "link": view.route, "reachable": False,
                           "error": _state_error(view, serial)})
    if transport == "server":
        return phones, notes
    listed = {s for s, _ in view.devices} if view else set()
    targets = [(s, "adb-shell over TCP") for s in serials if s not in listed]
    if view is None:
        try:
            targets += [(s, "adb-shell over USB") for s in usb_serials()]
        except UserError as e:  # a missing USB stack is a fact to report, not a failure
            notes.append(f"USB not checked: {e}")
    phones += [_probe(lambda s=s: DirectTransport(s), s, "direct", how) for s, how in targets]
    return phones, notes


def _state_error(view, serial: str) -> str:
    try:
        view.choose(serial, required=True)
    except UserError as e:
        return str(e)
    return ""


@click.group(invoke_without_command=True)
@click.option("--serial", "serials", multiple=True,
              help="Also check a phone at HOST:PORT (adb tcpip) directly; repeatable.")
@click.option("--transport", type=click.Choice(MODES), default="auto", show_default=True,
              help="Which routes to look on: server, direct, or both (auto).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def devices(ctx, serials: tuple[str, ...], transport: str, as_json: bool):
    """The device profiles (devices/*.yaml) and the phones reachable now, with their route.
    `devices add NAME --serial S` writes a profile from a phone."""
    if ctx.invoked_subcommand:
        return
    from ..targets.profiles import device_names, load_device

    profiles = []
    for name in device_names():
        p = load_device(name)
        profiles.append({"name": name, "kind": p["kind"], "description": p.get("description"),
                         "model": p.get("model"), "soc": p.get("soc"), "large_cores": p.get("large_cores")})
    phones, notes = reachable_phones(serials, transport)
    if as_json:
        return click.echo(json.dumps({"profiles": profiles, "phones": phones, "notes": notes}, indent=2))
    click.echo("profiles:")
    for p in profiles:
        what = p["description"] or ""
        cores = f"; large cores {', '.join(map(str, p['large_cores']))}" if p["large_cores"] else ""
        click.echo(f"  {p['name']:<10} {p['kind']:<8} {what}{cores}")
    click.echo("phones reachable now:")
    for ph in phones:
        via = f"{ph['transport']}: {ph['link']}"
        if ph["reachable"]:
            click.echo(f"  {ph['serial']} ({via}): {ph['model']}, Android {ph['android']}, {ph['abi']}")
        else:
            click.echo(f"  {ph['serial']} ({via}): not reachable: {ph['error']}")
    if not any(ph["reachable"] for ph in phones):
        click.echo("  none attached" + ("" if serials else " (no --serial HOST:PORT given)"))
    for note in notes:
        click.echo(note)


@devices.command("add")
@click.argument("name")
@click.option("--serial", help="The phone as `adb devices` lists it, or HOST:PORT (default: the only phone).")
@click.option("--transport", type=click.Choice(MODES), default="auto", show_default=True,
              help="server, direct, or auto (the server when it knows the phone).")
@click.option("--devices-dir", type=click.Path(file_okay=False),
              help="Your profile folder (default: the first $MBV3BENCH_DEVICES_DIR folder, else ./devices).")
@click.option("--force", is_flag=True, help="Overwrite an existing profile.")
def add(name: str, serial: str | None, transport: str, devices_dir: str | None, force: bool):
    """Write the profile NAME from the phone itself: model, SoC, ABI, Android, large cores and mask."""
    from ..core.output import check_output, write_atomic
    from ..targets.android.new_profile import profile_path, profile_text
    from ..targets.android.route import open_transport
    from ..targets.android.transport import LinkLost

    path = profile_path(name, devices_dir, force)
    check_output("the profile", path, create_folder=True)
    link = open_transport(serial, transport)
    try:
        text, info = profile_text(name, link.serial, link)
    except LinkLost as e:
        raise UserError(f"{link.serial} went away while its profile was read ({e})") from None
    finally:
        link.close()
    write_atomic(path, text, "the profile")
    click.echo(f"wrote {path}: {info['model']}, {info['soc']}, {info['abi']}, Android {info['android']}; "
               f"large cores {', '.join(map(str, info['large_cores']))} (mask {info['mask']}), via {link.route}")
    click.echo(f"measure with: MBV3BENCH_DEVICES_DIR={path.parent} mbv3bench run --device {name} --runtimes litert")


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
@db_option()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (the run JSON's result shape).")
def ingest(logfile: str, device: str, variant: str | None, db: str, as_json: bool):
    """Store a benchmark_model log run elsewhere (any benchmark_model version) in the results store."""
    from ..core.output import check_not_input, dumps
    from ..core.results import envelope
    from ..store import Store, measurement_key
    from ..targets.android.benchmark_log import BenchmarkLogError, parse_benchmark_log

    check_not_input("--db", db.file, {"LOGFILE": logfile})
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
