"""One run of a job at a time, across processes.

Two runs of one job at once each plan from the same state and each send the writes it finds missing: a person
new to the Apps API list was created twice (two `syncd sync leads` started together in the sandbox: 20 entries
for 10 people). That happens whenever a person starts `syncd sync` while the daemon runs the job, or a timer's
run overlaps a run by hand. So a run that writes holds the job's lock for its whole length: an exclusive
``flock`` on a file beside the SQLite state (``<state>.<job>.lock``), which the kernel releases when the process
ends however it ends (a SIGKILL mid-run leaves no stale lock to clear). A run that finds the lock held does
nothing and says who holds it (the holder writes its pid and start time into the file).

A dry run writes to no provider and takes no lock. A state that is not a SQLite file (an in-memory one is the
process's own) gets no cross-process lock: :func:`hold` returns a no-op and says so.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import time
from pathlib import Path

from syncd.state.store import Store

_SAFE = re.compile(r"[^A-Za-z0-9_-]")


class JobBusy(Exception):
    """Another process runs the job."""


class Held:
    """The job's lock while a run holds it; :meth:`release` gives it up (closing the file)."""

    def __init__(self, fd: int | None, note: str | None = None) -> None:
        self._fd = fd
        #: why no lock was taken (a state that is not a SQLite file), for the run's warnings
        self.note = note

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # (the kernel drops the flock with the last descriptor)
            self._fd = None


def lock_path(database: Path, job: str) -> Path:
    """The lock file of a job whose state is the SQLite file ``database``."""
    safe = _SAFE.sub("_", job)
    if safe != job:  # (two names that differ only in unsafe characters must not share a lock)
        safe += "-" + hashlib.sha256(job.encode()).hexdigest()[:8]
    return database.with_name(f"{database.name}.{safe}.lock")


def hold(store: Store, job: str) -> Held:
    """The job's lock, for this run; raises :class:`JobBusy` naming the holder when another process has it."""
    if store.file is None:
        if store.url == "sqlite:///:memory:":
            return Held(None)
        return Held(None, "this state backend has no cross-process lock: run each job from one syncd process only")
    path = lock_path(store.file, job)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read(fd)
        os.close(fd)
        raise JobBusy(
            f"job {job!r} is being run by another syncd process ({holder or 'holder unknown'}; lock {path}): "
            "this run did nothing. Run it again once that one is done."
        ) from None
    except BaseException:
        os.close(fd)
        raise
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}, since {started}".encode(), 0)
    return Held(fd)


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
