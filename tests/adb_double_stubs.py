"""The device double's /system/bin: shell-script stand-ins for getprop, taskset, reboot, dumpsys and
cmd, written into the sandbox by AdbDeviceDouble._populate. They read the double's state from files
under <sandbox>/.double, which the double's setters write, so a test changes the "phone" between
commands without restarting anything."""
from __future__ import annotations

import shlex

q = shlex.quote


def stubs(dev) -> dict[str, str]:
    """name -> script text for the double `dev` (its sandbox must exist)."""
    state = dev.sandbox / ".double"
    listing = " ".join(q(f"[{k}]: [{v}]") for k, v in sorted(dev.props.items()))
    cases = "\n".join(f"  {q(k)}) printf '%s\\n' {q(v)} ;;" for k, v in dev.props.items())
    cpus = len(dev.max_freqs_khz)
    every = format((1 << cpus) - 1, "x")
    allowed = sum(1 << c for c in dev.allowed_cpus) if dev.allowed_cpus is not None else (1 << cpus) - 1
    cpu_root = dev.sandbox / "sys/devices/system/cpu"
    pin = ('export DOUBLE_AFFINITY=$(printf %x "$mask")' if dev.pinning_works
           else ": the pinning is ignored, as by a vendor taskset that does nothing")
    no_thermal = "" if dev.thermal_service else """echo "Can't find service: thermalservice"; exit 0"""
    no_fixed = "" if dev.fixed_performance else (
        'echo "Failed to set FIXED_PERFORMANCE mode" >&2; '
        'echo "This is likely because Power HAL AIDL is not implemented on this device" >&2; exit 255')
    return {
        "getprop": f"""#!/bin/sh
# getprop stand-in: answers from the double's fixed property table.
case "$1" in
  '') printf '%s\\n' {listing} ;;
{cases}
  *) printf '%s\\n' "${{2-}}" ;;
esac
""",
        # A real taskset sets the affinity, which the kernel intersects with the shell's cpuset
        # (EINVAL when nothing is left); `taskset -p PID` then reports it. The stand-in cannot pin a
        # host process to a phone's CPU, so it hands the mask down in DOUBLE_AFFINITY instead, and
        # books 1 s of cpufreq residency at .double/run_khz on each CPU of the mask after the run.
        "taskset": f"""#!/bin/sh
# taskset stand-in: `taskset MASK COMMAND...` and `taskset -p PID`.
if [ "$1" = -p ]; then
  echo "pid $2's current affinity mask: ${{DOUBLE_AFFINITY:-{every}}}"
  exit 0
fi
case "$1" in
  ''|-*|*[!0-9a-fA-Fx]*) echo "taskset: usage: taskset MASK COMMAND [ARGS...] | taskset -p PID" >&2; exit 1 ;;
esac
[ $# -ge 2 ] || {{ echo "taskset: missing command" >&2; exit 1; }}
echo "$*" >> {q(str(dev.taskset_log))}
mask=$(( 0x${{1#0x}} & {allowed} ))
[ "$mask" -ne 0 ] || {{ echo "taskset: sched_setaffinity: Invalid argument" >&2; exit 1; }}
{pin}
shift
"$@"
rc=$?
khz=$(cat {q(str(state / "run_khz"))})
i=0
while [ $i -lt {cpus} ]; do
  f={q(str(cpu_root))}/cpu$i/cpufreq/stats/time_in_state
  if [ $(( (mask >> i) & 1 )) -eq 1 ] && [ -f "$f" ]; then
    awk -v k="$khz" '$1 == k {{ $2 += 100; found = 1 }} {{ print }} END {{ if (!found) print k, 100 }}' "$f" > "$f.new"
    mv "$f.new" "$f"
  fi
  i=$((i + 1))
done
exit $rc
""",
        "reboot": f"""#!/bin/sh
# reboot stand-in: never reboots anything, only leaves evidence for the tests.
echo "reboot $*" >> {q(str(dev.reboot_log))}
""",
        "dumpsys": f"""#!/bin/sh
# dumpsys stand-in: the battery and (on a phone that has it) the thermal service.
case "$1" in
  battery) ;;
  thermalservice)
    {no_thermal}
    status=$(cat {q(str(state / "thermal_status"))})
    cat <<EOF
IsStatusOverride: false
ThermalEventListeners:
	callbacks: 1
	killed: false
	broadcasts count: -1
ThermalStatusListeners:
	callbacks: 1
	killed: false
	broadcasts count: -1
Thermal Status: $status
Cached temperatures:
	Temperature{{mValue=36.0, mType=0, mName=cpu4-gold-usr, mStatus=$status}}
HAL Ready: true
HAL connection:
	ThermalHAL 2.0 connected: yes
EOF
    exit 0 ;;
  *) echo "Can't find service: $1"; exit 0 ;;
esac
level=$(cat {q(str(state / "battery_level"))})
cat <<EOF
Current Battery Service state:
  AC powered: false
  USB powered: true
  Wireless powered: false
  Max charging current: 500000
  Max charging voltage: 5000000
  Charge counter: 2450000
  status: 2
  health: 2
  present: true
  level: $level
  scale: 100
  voltage: 4123
  temperature: 285
  technology: Li-ion
EOF
""",
        # PowerManagerShellCommand's answers: on a device whose power HAL lacks the mode it prints
        # why on stderr and returns -1 (exit 255).
        "cmd": f"""#!/bin/sh
# cmd stand-in: only `cmd power set-fixed-performance-mode-enabled true|false`.
if [ "$1" != power ]; then echo "cmd: Can't find service: $1" >&2; exit 20; fi
if [ "$2" != set-fixed-performance-mode-enabled ]; then echo "Unknown command: $2"; exit 255; fi
{no_fixed}
case "$3" in
  true|false) echo "$3" >> {q(str(dev.fixed_performance_log))} ;;
  *) echo "Error: expected true or false" >&2; exit 255 ;;
esac
""",
    }
