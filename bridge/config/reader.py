"""One row of the settings table, and the reader that parses rows from the mapping.

The reader collects problems and warnings instead of raising at the first one, remembers which settings
were given or refused (checks across settings skip what depends on a refused one), and scrubs every secret
it saw from the messages.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar, cast

from bridge.config.parse import Invalid

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True)
class Setting(Generic[T_co]):
    """One row of the table. `default` is written as in `.env`; "" means unset or derived (see help)."""

    name: str
    default: str
    parse: Callable[[str], T_co]
    help: str
    secret: bool = False
    # The value config.example.env shows uncommented: the owner must replace it, so seeing it is a problem.
    placeholder: str | None = None

    @property
    def attribute(self) -> str:
        return self.name.lower()

    @property
    def file_name(self) -> str:
        """For secrets: NAME_FILE, a path to a file holding the value (systemd LoadCredential=)."""
        return f"{self.name}_FILE"


def masked(raw: str) -> str:
    """A raw value as quoted in a problem: any `user:password@` part of a URL is replaced."""
    return re.sub(r"://[^/@\s]*@", "://***@", raw)


class Reader:
    """Reads rows from the merged mapping and collects problems instead of raising at the first one."""

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self.mapping = mapping
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.given: set[str] = set()  # names set to a non-empty value (directly or via _FILE)
        self.failed: set[str] = set()  # names whose value was unusable: skip checks that depend on them
        self.secret_values: set[str] = set()  # scrubbed from every message, whatever setting quotes them
        self._values: dict[str, object] = {}  # row name → parsed value (None: unset or refused)

    def raw(self, name: str) -> str:
        return (self.mapping.get(name) or "").strip()

    def problem(self, name: str, message: str) -> None:
        self.problems.append(f"{name}: {message}")
        self.failed.add(name.removesuffix("_FILE"))  # a bad NAME_FILE makes NAME unusable too

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def scrub(self, text: str) -> str:
        """A secret pasted into the wrong setting (a password as SMTP_USERNAME) is still not shown."""
        for value in sorted(self.secret_values, key=len, reverse=True):
            if len(value) >= 4:  # shorter ones would blank out ordinary words
                text = text.replace(value, "***")
        return text

    def read(self, row: Setting[T]) -> T | None:
        """The row's value; None when unset without a default, or refused (its problem is filed).

        Each row is parsed once: a later read returns the same value and files no problem again.
        """
        if row.name not in self._values:
            self._values[row.name] = self._parse(row)
        return cast("T | None", self._values[row.name])

    def value(self, row: Setting[T]) -> T:
        """A row with a default, asked once there is no problem: then it always has a value."""
        value = self.read(row)
        assert value is not None, f"{row.name} was refused: ask for values only when there is no problem"
        return value

    def _parse(self, row: Setting[T]) -> T | None:
        raw = self._secret_raw(row) if row.secret else self.raw(row.name)
        if raw is None:
            return None
        if raw:
            self.given.add(row.name)
        elif row.default:
            raw = row.default
        else:
            return None
        if row.placeholder is not None and raw == row.placeholder:
            self.problem(row.name, "still the example value from config.example.env; put your own here")
            return None
        try:
            return row.parse(raw)
        except Invalid as invalid:
            shown = f", got {masked(raw)!r}" if invalid.echo and not row.secret else ""
            hint = f"; {invalid.hint}" if invalid.hint else ""
            self.problem(row.name, f"{invalid}{shown}{hint}")
            return None

    def _secret_raw(self, row: Setting[T]) -> str | None:
        """NAME, or the content of the file NAME_FILE points to; None when that failed (problem filed)."""
        direct = (self.mapping.get(row.name) or "").strip()
        pointer = self.raw(row.file_name)
        if direct and pointer:
            self.problem(row.name, f"set either {row.name} or {row.file_name}, not both")
            return None
        if not pointer:
            self.secret_values.add(direct)
            return direct
        path = Path(pointer).expanduser()
        credentials = self.raw("CREDENTIALS_DIRECTORY")
        # systemd's LoadCredential=NAME:… puts the file in $CREDENTIALS_DIRECTORY; a bare name means that.
        if credentials and "/" not in pointer and os.sep not in pointer:
            path = Path(credentials) / pointer
        try:
            content = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            hint = "" if credentials or path.is_absolute() else " ($CREDENTIALS_DIRECTORY is not set)"
            self.problem(row.file_name, f"{path} does not exist{hint}")
            return None
        except UnicodeDecodeError:
            self.problem(row.file_name, f"{path} is not UTF-8 text")
            return None
        except OSError as error:
            self.problem(row.file_name, f"cannot read {path}: {error.strerror or error}")
            return None
        value = content.rstrip("\r\n")
        self.secret_values.add(value)
        if not value.strip():
            self.problem(row.file_name, f"{path} is empty")
            return None
        return value
