"""Loading: the environment plus a `.env` file, merged and parsed into `Settings` in one go.

Problems of the file itself (a line python-dotenv cannot read) are reported with the settings' problems;
unknown keys and a file others can read are notes, listed with the problems or kept as warnings.
"""

from __future__ import annotations

import dataclasses
import difflib
import io
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from dotenv.parser import parse_stream

from bridge.config.settings import SETTINGS, Settings, setting_names
from bridge.errors import ConfigError


def read_env_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """The bindings of a `.env` file and a problem per line that python-dotenv could not parse.

    Values are taken literally (no `${VAR}` expansion): a password may contain `$`.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read it: {error.strerror or error}") from None
    values: dict[str, str] = {}
    problems: list[str] = []
    for binding in parse_stream(io.StringIO(text)):
        original = binding.original
        line = original.line + len(original.string) - len(original.string.lstrip("\r\n"))
        if binding.error:
            # The line itself is not quoted: it may hold a secret.
            problems.append(f"{path} line {line}: not a NAME=value line (check its quotes)")
        elif binding.key is not None:
            values[binding.key] = binding.value or ""
    return values, problems


def _unknown_keys(path: Path, keys: list[str]) -> list[str]:
    known = setting_names()
    notes = []
    for key in keys:
        if key not in known:
            guess = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {guess[0]}?" if guess else ""
            notes.append(f"{key} (in {path}): not a setting of the bridge{hint}")
    return notes


def _permission_note(path: Path, values: Mapping[str, str]) -> list[str]:
    secrets = {row.name for row in SETTINGS if row.secret}
    if not secrets & {key for key, value in values.items() if value}:
        return []
    try:
        mode = path.stat().st_mode
    except OSError:
        return []
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        return [f"{path} holds secrets and other users can read it: chmod 600 {path}"]
    return []


def load_settings(env_file: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment plus `.env` (or `env_file`); real environment variables win.

    `os.environ` is only read, never changed. `env_file` (`--env-file`) must exist; `.env` in the current
    directory is optional.
    """
    environ = os.environ if environ is None else environ
    if env_file is not None and not env_file.is_file():
        what = "is not a file" if env_file.exists() else "does not exist"
        raise ConfigError(f"--env-file: {env_file} {what}")
    path = env_file if env_file is not None else Path(".env")
    file_values: dict[str, str] = {}
    problems: list[str] = []
    notes: list[str] = []
    if path.is_file():
        file_values, problems = read_env_file(path)
        notes = _unknown_keys(path, list(file_values)) + _permission_note(path, file_values)
    merged = {**file_values, **environ}
    try:
        settings = Settings.from_mapping(merged)
    except ConfigError as error:
        raise ConfigError([*problems, *error.problems, *notes]) from None
    if problems:
        raise ConfigError([*problems, *notes])
    return dataclasses.replace(settings, warnings=(*settings.warnings, *notes), env_file=path.absolute())
