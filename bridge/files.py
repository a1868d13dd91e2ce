"""Files that hold customers' personal data, readable by their owner only.

The file transport's emails and their index, `bridge preview` and `bridge templates preview` output and the
demo's folder name customers, their addresses and their orders. They are written 0600, into folders the
bridge creates 0700, whatever the umask says: on a shared host another user must not be able to read them.

A file is written whole under a temporary name and renamed into place, so a reader never sees half an
email, and a symlink planted where the file goes is replaced rather than followed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Final

FILE_MODE: Final = 0o600
DIRECTORY_MODE: Final = 0o700


def write_private(path: Path, data: bytes | str) -> None:
    """Write `data` (text as UTF-8) to `path` with mode 0600, replacing what was there."""
    content = data.encode("utf-8") if isinstance(data, str) else data
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        try:
            os.fchmod(fd, FILE_MODE)  # the umask may have taken bits away; it never adds any
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise


def make_private_dir(path: Path) -> None:
    """Create `path` and any missing parents with mode 0700; folders that already exist keep their mode
    (they are the owner's)."""
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIRECTORY_MODE)
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue  # made by someone else meanwhile: theirs
        os.chmod(folder, DIRECTORY_MODE)
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a folder")
