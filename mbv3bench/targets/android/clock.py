"""A known clock on a phone: what the core ran at, how hot the phone was, whether the pinning took.

* the state before and after each run: the core's current/capped/top clock, its cpufreq residency
  (stats/time_in_state), Android's thermal status (`dumpsys thermalservice`), the thermal zones and
  the battery, all in one shell round trip;
* Android 11's fixed performance mode (`cmd power set-fixed-performance-mode-enabled`, no root);
* the affinity the benchmark process really got (`taskset -p` on its own pid, just before it
  becomes benchmark_model by exec, so it is that very process).

What a phone cannot tell is stated as "unsupported: ..." / "unavailable: ...", never left out.
"""
from __future__ import annotations

import re
import shlex

FIXED_PERFORMANCE = "cmd power set-fixed-performance-mode-enabled"
FIXED_PERFORMANCE_SDK = 30    # Android 11
MOSTLY = 0.5                  # a run whose core spent more than this share below its top clock is flagged
THERMAL_STATUS = ("NONE", "LIGHT", "MODERATE", "SEVERE", "CRITICAL", "EMERGENCY", "SHUTDOWN")
AFFINITY = "__MBV3_AFFINITY"


def tail(text: str, lines: int = 2) -> str:
    kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(kept)[-300:] or "no output"


def state_script(core: int) -> str:
    c = f"/sys/devices/system/cpu/cpu{core}/cpufreq"
    return (f'echo "cur $(cat {c}/scaling_cur_freq)"; echo "cap $(cat {c}/scaling_max_freq 2>/dev/null)"; '
            f'echo "max $(cat {c}/cpuinfo_max_freq)"; '
            f"cat {c}/stats/time_in_state 2>&1 | sed 's/^/tis /'; "
            "echo \"ts $(dumpsys thermalservice 2>&1 | grep -m1 -i -e 'thermal status' -e 'find service')\"; "
            'for z in /sys/class/thermal/thermal_zone*; do echo "tz $(cat $z/temp 2>/dev/null) $(cat $z/type 2>/dev/null)"; done; '
            "dumpsys battery | grep -m1 'level:'")


def parse_state(text: str) -> dict:
    state: dict = {"core_mhz": None, "cap_mhz": None, "max_mhz": None, "temps_c": {}, "battery_level": None,
                   "thermal_status": None, "time_in_state": {}}
    notes = {"thermal_status": "dumpsys thermalservice printed no thermal status", "time_in_state": None}
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        rest = rest.strip()
        if word in ("cur", "cap", "max") and rest.isdigit():
            state[{"cur": "core_mhz", "cap": "cap_mhz", "max": "max_mhz"}[word]] = int(rest) / 1000
        elif word == "tis":
            pair = rest.split()
            if len(pair) == 2 and pair[0].isdigit() and pair[1].isdigit():
                state["time_in_state"][int(pair[0])] = int(pair[1])
            else:
                notes["time_in_state"] = rest
        elif word == "ts":
            status = re.search(r"thermal status:\s*(\d+)", rest, re.I)
            if status:
                state["thermal_status"] = int(status.group(1))
            elif rest:
                notes["thermal_status"] = f"dumpsys thermalservice: {rest}"
        elif word == "tz":
            temp, _, kind = rest.partition(" ")
            if re.fullmatch(r"-?\d+", temp):
                value = int(temp) / 1000 if abs(int(temp)) > 1000 else int(temp)  # most zones report m°C
                if 0 < value < 150:  # disabled zones read 0 or nonsense
                    state["temps_c"][kind.strip() or f"zone{len(state['temps_c'])}"] = value
        elif word == "level:" and rest.isdigit():
            state["battery_level"] = int(rest)
    if state["thermal_status"] is None:
        state["thermal_status_note"] = notes["thermal_status"]
    if not state["time_in_state"]:
        state["time_in_state"] = None
        state["time_in_state_note"] = notes["time_in_state"] or "cpufreq stats/time_in_state is empty"
    return state


def thermal_status(before: dict, after: dict) -> dict | str:
    if before["thermal_status"] is None or after["thermal_status"] is None:
        return f"unavailable: {before.get('thermal_status_note') or after.get('thermal_status_note')}"
    return {"before": before["thermal_status"], "after": after["thermal_status"],
            "after_name": status_name(after["thermal_status"])}


def status_name(status: int) -> str:
    return THERMAL_STATUS[status] if 0 <= status < len(THERMAL_STATUS) else str(status)


def residency(core: int, before: dict, after: dict) -> dict | str:
    """Seconds the core's clock spent at each frequency between the two states (the whole run:
    loading, warm-up and timed runs), and the share of it below the core's top clock."""
    if before["time_in_state"] is None or after["time_in_state"] is None:
        note = before.get("time_in_state_note") or after.get("time_in_state_note")
        return f"unavailable: cpu{core} has no cpufreq residency ({note})"
    ticks = {khz: t - before["time_in_state"].get(khz, 0) for khz, t in after["time_in_state"].items()}
    ticks = {khz: t for khz, t in ticks.items() if t > 0}
    total = sum(ticks.values())
    top = after["max_mhz"] * 1000 if after["max_mhz"] else max(after["time_in_state"])
    if not total:
        return f"unavailable: cpu{core}'s time_in_state did not advance during the run"
    below = sum(t for khz, t in ticks.items() if khz < top)
    # time_in_state counts in USER_HZ ticks: 10 ms on every Android kernel
    return {"core": core, "top_mhz": top / 1000,
            "seconds_at_mhz": {f"{khz / 1000:g}": t / 100 for khz, t in sorted(ticks.items())},
            "below_top_share": round(below / total, 3),
            "mostly_at_mhz": max(ticks, key=ticks.get) / 1000}


def below_top_reason(res: dict | str, fixed_performance: str) -> str | None:
    """The flag for a run whose core ran mostly below its top clock, with the figures."""
    if not isinstance(res, dict) or res["below_top_share"] <= MOSTLY:
        return None
    why = "; fixed performance mode was on, which may hold it there" if fixed_performance == "on" else ""
    return (f"core {res['core']} ran {100 * res['below_top_share']:.0f}% of the run below its top clock "
            f"{res['top_mhz']:g} MHz (mostly at {res['mostly_at_mhz']:g} MHz){why}")


def fixed_performance(run, sdk: int | None, enabled: bool) -> str:
    """Switches the mode; "on"/"off", or "unsupported: <why>". `run(command) -> (rc, output)`."""
    if sdk is not None and sdk < FIXED_PERFORMANCE_SDK:
        return f"unsupported: Android SDK {sdk}; fixed performance mode needs Android 11 (SDK 30)"
    rc, out = run(f"{FIXED_PERFORMANCE} {'true' if enabled else 'false'}")
    if rc == 0:
        return "on" if enabled else "off"
    return f"unsupported: {FIXED_PERFORMANCE} said: {tail(out)} (exit {rc})"


def pinned(cpu_mask: str, argv: list[str]) -> str:
    """`argv` under taskset, reporting the affinity it got from inside the process that then
    becomes argv[0] by exec (same pid, same mask), so nothing races with a sleep."""
    probe = f'echo "{AFFINITY} $(taskset -p $$ 2>&1)"; exec "$0" "$@"'
    return " ".join(["taskset", cpu_mask, "sh", "-c", shlex.quote(probe), *map(shlex.quote, argv)])


def split_affinity(output: str) -> tuple[str | None, str]:
    """(the affinity report, the program's own output)."""
    first, newline, rest = output.partition("\n")
    if first.startswith(AFFINITY):
        return first[len(AFFINITY):].strip(), rest
    return None, output


def affinity(asked: str, report: str | None) -> dict | str:
    got = re.search(r"affinity mask:\s*([0-9a-fA-F]+)", report or "")
    if not got:
        return f"unchecked: taskset -p said: {tail(report or '')}"
    return {"asked": asked, "got": got.group(1).lower(), "took": int(got.group(1), 16) == int(asked, 16)}
