"""One bridge at a time: per state folder, and per shop.

- The state folder's lock is `STATE_DIR/bridge.lock`: `bridge run` and `bridge sync` on one store share it.
  The holder's pid is written to `bridge.pid` beside it, for the message a second process prints.
- The shop's lock is `shop-<hash>.lock` in the user's runtime folder ($XDG_RUNTIME_DIR, else a private
  per-user folder under the temp dir), named by a hash of the shop's address (`shop_address`: the
  configured PRESTASHOP_URL without scheme or webservice suffix; it must work before any store exists).
  Two state folders pointed at one shop would each send every email: the second bridge is refused, told
  which state folder the first one uses (written with its pid to `shop-<hash>.holder`).

Both are held with filelock (flock(2) on Unix: the kernel releases a lock when its holder dies, so a crash
never leaves a stale lock behind). A companion file is never the lock file itself, because filelock may
truncate or remove that file. Nothing can be locked across machines through a read-only webservice:
`bridge check`, the README and the guides say so.

The state folder's lock saves wasted polls and confusing logs; it is not what keeps an email single: the
outbox's row claims do that, with or without the lock (`tests/test_lock.py` proves it). The shop's lock is
what keeps two stores on one shop (on one machine) from sending everything twice.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Final

from filelock import FileLock, Timeout

from bridge.errors import LockError
from bridge.model.cursors import shop_address

log = logging.getLogger(__name__)

LOCK_NAME: Final = "bridge.lock"
PID_NAME: Final = "bridge.pid"
RUNTIME_NAME: Final = "prestashop-mail-bridge"  # the folder of the shop locks, in the runtime folder
FILE_MODE: Final = 0o600
DIRECTORY_MODE: Final = 0o700


def read_pid(state_dir: Path) -> int | None:
    """The pid recorded by the last process that took the lock, if the file holds one."""
    return _read_holder(state_dir / PID_NAME)[0]


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


def runtime_dir() -> Path:
    """The folder of the shop locks: `$XDG_RUNTIME_DIR/prestashop-mail-bridge`, else
    `<temp dir>/prestashop-mail-bridge-<uid>`. Created 0700; refused unless it is this user's own private
    folder (in a shared temp dir, another user could have made it first)."""
    base = os.environ.get("XDG_RUNTIME_DIR", "")
    if base and Path(base).is_dir():
        folder = Path(base) / RUNTIME_NAME
    else:
        folder = Path(tempfile.gettempdir()) / f"{RUNTIME_NAME}-{os.getuid()}"
    try:
        folder.mkdir(mode=DIRECTORY_MODE, exist_ok=True)
        found = folder.lstat()
        if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid():
            raise LockError(f"{folder} is not this user's folder: remove it, or set XDG_RUNTIME_DIR")
        if found.st_mode & 0o077:
            folder.chmod(DIRECTORY_MODE)
    except OSError as error:
        raise LockError(f"cannot create {folder}: {error.strerror or error}") from None
    return folder


class _Lock(ABC):
    """A file lock with a companion file naming its holder (pid, and what else the message needs)."""

    def __init__(self, lock_path: Path, holder_path: Path) -> None:
        self.lock_path, self.holder_path = lock_path, holder_path
        self._lock = FileLock(str(lock_path), mode=FILE_MODE)

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    @abstractmethod
    def busy(self) -> str:
        """The refusal when another process holds the lock."""

    @abstractmethod
    def waiting(self) -> str:
        """What `on_wait` is told while this process waits."""

    def holder_text(self) -> str:
        return f"{os.getpid()}\n"

    def take(self, *, wait: bool, on_wait: Callable[[str], None] | None) -> None:
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            if not wait:
                raise LockError(self.busy()) from None
            (on_wait or log.info)(self.waiting())
            self._lock.acquire(timeout=-1)
        except OSError as error:
            raise LockError(f"cannot lock {self.lock_path}: {error.strerror or error}") from None
        _write_private(self.holder_path, self.holder_text())

    def release(self) -> None:
        if not self._lock.is_locked:
            return
        if _read_holder(self.holder_path)[0] == os.getpid():
            self.holder_path.unlink(missing_ok=True)
        self._lock.release()


class BridgeLock(_Lock):
    """The lock of one state directory. `acquire()` raises LockError when another process holds it."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        super().__init__(state_dir / LOCK_NAME, state_dir / PID_NAME)

    def busy(self) -> str:
        return busy_message(self.state_dir)

    def waiting(self) -> str:
        return f"waiting for the other bridge (pid {read_pid(self.state_dir) or 'unknown'}) to finish"

    def acquire(self, *, wait: bool = False, on_wait: Callable[[str], None] | None = None) -> None:
        """Take the lock now, or raise LockError naming the holder; with `wait`, block until it is free.

        `on_wait` is told (once) whom we are waiting for.
        """
        try:
            self.state_dir.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        except OSError as error:
            raise LockError(f"cannot create {self.state_dir}: {error.strerror or error}") from None
        self.take(wait=wait, on_wait=on_wait)

    def __enter__(self) -> BridgeLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class ShopLock(_Lock):
    """The lock of one shop on this machine (for this user), whatever state folder the bridge uses."""

    def __init__(self, shop_url: str, state_dir: Path, *, folder: Path | None = None) -> None:
        self.address = shop_address(shop_url)
        self.state_dir = state_dir
        name = "shop-" + hashlib.sha256(self.address.encode()).hexdigest()[:32]
        where = folder if folder is not None else runtime_dir()
        super().__init__(where / f"{name}.lock", where / f"{name}.holder")

    def holder_text(self) -> str:
        return f"{os.getpid()}\n{self.state_dir.resolve()}\n"

    def busy(self) -> str:
        pid, folder = _read_holder(self.holder_path)
        return (
            f"another bridge (pid {pid or 'unknown'}) is working on the shop {self.address} with the state"
            f" folder {folder or 'unknown'}: two state folders on one shop would send every email twice;"
            " stop that bridge, or use its state folder (STATE_DIR)"
        )

    def waiting(self) -> str:
        pid, folder = _read_holder(self.holder_path)
        return (
            f"waiting for the other bridge on {self.address} (pid {pid or 'unknown'}, state folder"
            f" {folder or 'unknown'}) to finish"
        )

    def acquire(self, *, wait: bool = False, on_wait: Callable[[str], None] | None = None) -> None:
        """Take the lock now, or raise LockError naming the holder's state folder; with `wait`, block."""
        self.take(wait=wait, on_wait=on_wait)


@contextmanager
def bridge_lock(
    state_dir: Path,
    *,
    shop_url: str | None = None,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[BridgeLock]:
    """Hold the lock of `state_dir` for the block and, given the shop's URL, the shop's lock too (taken
    second, so a bridge waiting for a shop holds no lock another bridge waits for)."""
    with ExitStack() as held:
        lock = BridgeLock(state_dir)
        lock.acquire(wait=wait, on_wait=on_wait)
        held.callback(lock.release)
        if shop_url:
            shop = ShopLock(shop_url, state_dir)
            shop.acquire(wait=wait, on_wait=on_wait)
            held.callback(shop.release)
        yield lock


def _read_holder(path: Path) -> tuple[int | None, str]:
    """The pid on a companion file's first line (None if absent), and its second line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None, ""
    pid = lines[0].strip() if lines else ""
    return (int(pid) if pid.isdigit() else None), (lines[1].strip() if len(lines) > 1 else "")


def _write_private(path: Path, text: str) -> None:
    """Written whole and renamed into place, so a reader never sees half a line."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
    partial.replace(path)
