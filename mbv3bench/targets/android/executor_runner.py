"""ExecuTorch's executor_runner (examples/portable/executor_runner in pytorch/executorch), for
executorch cells: a .pte run --num_executions times on inputs of ones, each execution timed (v1.3
and later print each one), its ETDump written to --etdump_path when it is built with the event
tracer. It has no warm-up or duration flags: a run is warmup_runs + runs executions, the first
warmup_runs set apart; --min-secs and --warmup-secs do not reach it."""
from __future__ import annotations

from pathlib import Path, PurePosixPath

from ...core.results import Job, OpRow
from .phone_binary import PhoneBinary
from .runner_log import RunnerLog, RunnerLogError, parse_runner_log

BUILD = "see README, Phones: ExecuTorch"
PAL_HINT = ("a build with the android PAL (the android presets' default) logs to logcat, not the shell: "
            f"build it with -DEXECUTORCH_PAL_DEFAULT=posix ({BUILD})")


class ExecutorRunner(PhoneBinary):
    name = "executor_runner"
    runtime = "executorch"
    field = "executorch_runner"
    option = "--executorch-runner"
    how_to_get = f"build ExecuTorch's executor_runner with the Android NDK ({BUILD})"

    @classmethod
    def abi_hint(cls, abilist: list[str]) -> str:
        return f"build it for {abilist[0]} (cmake -DANDROID_ABI={abilist[0]}, {BUILD}) and pass {cls.option} PATH"

    @property
    def etdump(self) -> bool:
        """Built with the event tracer (-DEXECUTORCH_ENABLE_EVENT_TRACER=ON): only then does gflags
        list --etdump_path, and only then can a run be profiled."""
        return "etdump_path" in self.help

    def facts(self) -> dict:
        return {"version": "none printed (executor_runner reports no version; the sha256 identifies it)",
                "event_tracer": "built in: every run records ETDump events, timed runs too, so their cost is in "
                                "the timings" if self.etdump else
                                "not built in: no per-layer times (build with -DEXECUTORCH_ENABLE_EVENT_TRACER=ON)",
                "inputs": "ones (executor_runner's own)"}

    def unmeasured(self) -> str | None:
        return None if self.etdump else ("built without the event tracer: its cells get no per-layer times; build it "
                                         f"with -DEXECUTORCH_ENABLE_EVENT_TRACER=ON -DEXECUTORCH_BUILD_DEVTOOLS=ON ({BUILD})")

    @staticmethod
    def _etdump_path(model: str) -> str:
        return str(PurePosixPath(model).with_suffix(".etdp"))

    def flags(self, job: Job, model: str, profiled: bool) -> list[str]:
        p = job.protocol
        executions = 1 + p["profile_runs"] if profiled else p["warmup_runs"] + p["runs"]
        # a tracer build writes its ETDump after every run (by default to ./model.etdump, where the
        # shell's working directory may be read-only and the write an abort), so every run names one
        return [f"--model_path={model}", f"--num_executions={executions}", f"--cpu_threads={job.threads}",
                *([f"--etdump_path={self._etdump_path(model)}"] if self.etdump else [])]

    def writes(self, model: str) -> list[str]:
        return [self._etdump_path(model)] if self.etdump else []

    def read(self, output: str, job: Job, profiled: bool) -> RunnerLog:
        try:
            log = parse_runner_log(output, warmup=1 if profiled else job.protocol["warmup_runs"])
        except RunnerLogError as e:
            raise ValueError(f"{e}; {PAL_HINT}" if "no `executorch:` log line" in str(e) else str(e)) from None
        if log.summary_ms()["mean"] is None:
            raise ValueError(log.problems[-1] if log.problems else f"no timing line printed; {PAL_HINT}")
        if log.threads is not None and log.threads != job.threads:
            raise ValueError(f"its thread pool runs {log.threads} thread(s), not the {job.threads} asked")
        return log

    def layers(self, log: RunnerLog, job: Job, pulled: list[Path]) -> tuple[list[OpRow], float | None]:
        from ...runtimes.executorch import etdump_profile

        if not pulled:   # a build without the event tracer: said once, by unmeasured()
            return [], None
        profile = etdump_profile(pulled[0], Path(job.artifact), job.protocol["profile_runs"])
        return profile.ops, profile.run_ms

    def reason(self, output: str) -> str:
        """The last error it logged (an ET_CHECK's abort, "Failed to parse model file ..."), else the tail."""
        try:
            problems = parse_runner_log(output).problems
        except RunnerLogError:
            problems = ()
        return problems[-1][:300] if problems else super().reason(output)
