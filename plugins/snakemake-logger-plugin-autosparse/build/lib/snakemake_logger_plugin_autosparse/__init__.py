"""Snakemake logger plugin ``autosparse``: one line per finished job instead of job blocks.

``profiles/default/config.yaml`` selects it (``logger: [autosparse]``); ``--workflow-profile none``
brings back Snakemake's full job blocks. A finished job prints::

    [21:38:27]  5/74 (7%) train_dense target=lenet_300_100-mnist-w1 seed=0  1m12s | eta ~41m

The ETA is the remaining job count at the mean pace so far (a rough figure: jobs differ in size).
Errors, warnings, the job table and dry runs are formatted exactly as Snakemake does.
"""

from __future__ import annotations

import sys
import time
from logging import LogRecord

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent

SILENT = {LogEvent.WORKFLOW_STARTED, LogEvent.JOB_STARTED, LogEvent.JOB_FINISHED}
CHATTER = {"Select jobs to execute..."}  # the scheduler's note before every round of jobs


def duration(s: float) -> str:
    """``42s``, ``3m05s`` or ``2h07m``."""
    if s >= 3600:
        return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"
    return f"{int(s // 60)}m{int(s % 60):02d}s" if s >= 60 else f"{s:.0f}s"


class LogHandler(LogHandlerBase):
    """Compact terminal output: jobs on one line each, everything else as Snakemake prints it."""

    def __post_init__(self) -> None:
        from snakemake.logging import DefaultFormatter

        self.default = DefaultFormatter(self.common_settings.quiet,
                                        self.common_settings.show_failed_logs)
        self.jobs: dict[int, tuple[str, str, float]] = {}
        self.finished: list[int] = []
        self.t0 = time.time()
        # where Snakemake's own handler writes: stdout for dry runs (--stdout), else stderr
        self.stream = sys.stdout if self.common_settings.stdout else sys.stderr

    def line(self, rec: LogRecord) -> str | None:
        """The text printed for ``rec`` (None: nothing)."""
        event = getattr(rec, "event", None)
        if event is None and rec.getMessage() in CHATTER and not self.common_settings.dryrun:
            return None
        if self.common_settings.dryrun or event in (LogEvent.JOB_ERROR, None, LogEvent.RUN_INFO):
            return self.default.format(rec)
        if event == LogEvent.JOB_INFO:
            wildcards = " ".join(f"{k}={v}" for k, v in dict(rec.wildcards or {}).items())
            self.jobs[rec.jobid] = (rec.rule_name, wildcards, time.time())
            return None
        if event == LogEvent.JOB_FINISHED:
            self.finished.append(rec.job_id)
            return None
        if event == LogEvent.PROGRESS:
            done, total = rec.done, rec.total
            now, elapsed = time.time(), time.time() - self.t0
            parts = []
            for jobid in self.finished:
                rule, wildcards, start = self.jobs.pop(jobid, ("job", f"id={jobid}", now))
                parts.append(" ".join(filter(None, (rule, wildcards))) + f"  {duration(now - start)}")
            self.finished.clear()
            eta = f"eta ~{duration(elapsed / done * (total - done))}" if 0 < done < total else "done"
            return (f"[{time.strftime('%H:%M:%S')}] {done:>{len(str(total))}}/{total} "
                    f"({100 * done // max(total, 1)}%) {'; '.join(parts) or 'job'} | {eta}")
        if event in SILENT:
            return None
        return self.default.format(rec)

    def emit(self, record: LogRecord) -> None:
        try:
            text = self.line(record)
            if text:
                self.stream.write(text + "\n")
                self.stream.flush()
        except Exception:  # never let the log stop the workflow
            self.handleError(record)

    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return False  # Snakemake's own filter: --quiet, --printshellcmds keep working

    @property
    def has_formatter(self) -> bool:
        return True

    @property
    def needs_rulegraph(self) -> bool:
        return False
