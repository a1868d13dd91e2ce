"""Asking the owner: a terminal interface, and the ask-until-valid loop the steps are built on.

`Terminal` is all the wizard knows of the screen and the keyboard. `ConsoleTerminal` is the real one
(secrets are read with `getpass`, which does not echo them); `ScriptedTerminal` answers from a list, for
the non-interactive form and for tests of the flow. End to end, `tests/test_init.py` drives the real one
in a pseudo-terminal.
"""

from __future__ import annotations

import getpass
import sys
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from bridge.commands.init.texts import NO, YES, Language, text

T = TypeVar("T")


class Terminal(Protocol):
    def say(self, line: str = "") -> None: ...

    def ask(self, prompt: str) -> str: ...

    def ask_secret(self, prompt: str) -> str: ...


class ConsoleTerminal:
    """stdin and stdout; secrets through getpass (no echo). Ctrl-D counts as Ctrl-C: stop, write nothing."""

    def say(self, line: str = "") -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def ask(self, prompt: str) -> str:
        try:
            return input(prompt)
        except EOFError:
            raise KeyboardInterrupt from None

    def ask_secret(self, prompt: str) -> str:
        try:
            return getpass.getpass(prompt)
        except EOFError:
            raise KeyboardInterrupt from None


@dataclass
class ScriptedTerminal:
    """Answers from a list, in order; records what was said and asked. An exhausted list stops the wizard
    as Ctrl-C would."""

    answers: deque[str] = field(default_factory=deque)
    said: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, answers: Iterable[str]) -> ScriptedTerminal:
        return cls(deque(answers))

    def say(self, line: str = "") -> None:
        self.said.append(line)

    def ask(self, prompt: str) -> str:
        self.said.append(prompt)
        if not self.answers:
            raise KeyboardInterrupt
        return self.answers.popleft()

    def ask_secret(self, prompt: str) -> str:
        return self.ask(prompt)


class Retry(Exception):
    """An answer that cannot be used: the message says why, and the question is asked again."""


@dataclass
class Asker:
    """Questions in the owner's language: defaults in [brackets], secrets never shown, refusals re-asked."""

    terminal: Terminal
    language: Language

    def say(self, key: str, **fields: object) -> None:
        self.terminal.say(text(self.language, key, **fields))

    def line(self, key: str, *, default: str | None = None, check: Callable[[str], T] | None = None) -> str:
        """A non-empty answer (Enter takes `default`), re-asked while `check` raises Retry."""
        shown = f" [{default}]" if default else ""
        while True:
            answer = self.terminal.ask(f"{text(self.language, key)}{shown}: ").strip() or (default or "")
            if not answer:
                self.say("problem", message=text(self.language, "empty"))
                continue
            try:
                if check is not None:
                    check(answer)
            except Retry as refused:
                self.say("problem", message=str(refused))
                continue
            return answer

    def secret(self, key: str, *, previous: str | None = None) -> str:
        """A secret, not echoed; Enter keeps `previous` (never shown) when there is one."""
        keep = f" ({text(self.language, 'keep_secret')})" if previous else ""
        while True:
            answer = self.terminal.ask_secret(f"{text(self.language, key)}{keep}: ").strip()
            if answer or previous:
                return answer or previous or ""
            self.say("problem", message=text(self.language, "empty"))

    def yes(self, key: str, *, default: bool = False, **fields: object) -> bool:
        """A yes/no question: y/yes/t/tak or n/no/nie, Enter takes `default`."""
        choices = text(self.language, "yes_no_default_yes" if default else "yes_no")
        while True:
            answer = self.terminal.ask(f"{text(self.language, key, **fields)} {choices} ").strip().lower()
            if not answer:
                return default
            if answer in YES:
                return True
            if answer in NO:
                return False
