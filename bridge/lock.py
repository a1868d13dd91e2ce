"""One bridge process at a time: `bridge run` and `bridge sync` share a lock file next to the state store.

The lock is `STATE_DIR/bridge.lock`, held with filelock (flock(2) on Unix: the kernel releases it when the
holder dies, so a crash never leaves a stale lock behind). The holder's pid is written to `bridge.pid`
beside it, for the message a second process prints; it is never written into the lock file itself,
because filelock may truncate or remove that file.

The lock saves wasted polls and confusing logs. It is not what keeps an email single: the outbox's row
claims do that, with or without the lock (`tests/test_lock.py` proves it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from filelock import FileLock, Timeout

from bridge.errors import LockError

log = logging.getLogger(__name__)

LOCK_NAME: Final = "bridge.lock"
PID_NAME: Final = "bridge.pid"
FILE_MODE: Final = 0o600
DIRECTORY_MODE: Final = 0o700


def read_pid(state_dir: Path) -> int | None:
    """The pid recorded by the last process that took the lock, if the file holds one."""
    try:
        text = (state_dir / PID_NAME).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def holder(state_dir: Path) -> int | None:
    """The pid of the bridge that holds the lock now, or None (`bridge status` uses it).

    Read from the pid file and checked to be alive, so it never takes the lock itself: a status check must
    not make a `bridge sync` starting at that instant fail. A recycled pid would read as alive.
    """
    pid = read_pid(state_dir)
    if pid is None:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # alive, but another user's process
    return pid


def busy_message(state_dir: Path) -> str:
    pid = read_pid(state_dir)
    who = f"pid {pid}" if pid is not None else "pid unknown"
    return f"another bridge is running ({who}; lock {state_dir / LOCK_NAME}); use --wait to wait for it"


class BridgeLock:
    """The lock of one state directory. `acquire()` raises LockError when another process holds it."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._lock = FileLock(str(state_dir / LOCK_NAME), mode=FILE_MODE)

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def acquire(self, *, wait: bool = False, on_wait: Callable[[str], None] | None = None) -> None:
        """Take the lock now, or raise LockError naming the holder; with `wait`, block until it is free.

        `on_wait` is told (once) whom we are waiting for.
        """
        try:
            self.state_dir.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        except OSError as error:
            raise LockError(f"cannot create {self.state_dir}: {error.strerror or error}") from None
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            if not wait:
                raise LockError(busy_message(self.state_dir)) from None
            pid = read_pid(self.state_dir)
            (on_wait or log.info)(f"waiting for the other bridge (pid {pid or 'unknown'}) to finish")
            self._lock.acquire(timeout=-1)
        except OSError as error:
            raise LockError(f"cannot lock {self.state_dir / LOCK_NAME}: {error.strerror or error}") from None
        self._write_pid()

    def release(self) -> None:
        if not self._lock.is_locked:
            return
        pid_file = self.state_dir / PID_NAME
        if read_pid(self.state_dir) == os.getpid():
            pid_file.unlink(missing_ok=True)
        self._lock.release()

    def __enter__(self) -> BridgeLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _write_pid(self) -> None:
        # Written whole and renamed into place, so a reader never sees half a number.
        pid_file = self.state_dir / PID_NAME
        partial = pid_file.with_name(f"{PID_NAME}.{os.getpid()}.tmp")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        finally:
            os.close(fd)
        partial.replace(pid_file)


@contextmanager
def bridge_lock(
    state_dir: Path, *, wait: bool = False, on_wait: Callable[[str], None] | None = None
) -> Iterator[BridgeLock]:
    """Hold the bridge lock of `state_dir` for the block (see `BridgeLock.acquire`)."""
    lock = BridgeLock(state_dir)
    lock.acquire(wait=wait, on_wait=on_wait)
    try:
        yield lock
    finally:
        lock.release()
