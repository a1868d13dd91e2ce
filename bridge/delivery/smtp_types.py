"""The plain data the SMTP modules share: where a reply came from, and what one attempt came to.

`bridge.delivery.smtp` re-exports `Outcome`, `SendResult`, `Security` and `Stage`; import them from there.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

Security = Literal["starttls", "ssl", "none"]
Stage = Literal["connect", "tls", "ehlo", "auth", "noop", "mail", "rcpt", "data", "message"]


class Outcome(enum.StrEnum):
    """What one delivery attempt means for the outbox (docs/email-facts.md §5)."""

    SENT = "sent"  # the server took responsibility for the mail
    TRANSIENT = "transient"  # retry this mail later with backoff
    QUOTA = "quota"  # pause the whole sender; do not spend this mail's attempts
    CREDENTIALS = "credentials"  # pause the sender, keep every mail pending, tell the owner
    RECIPIENT_PERMANENT = "recipient_permanent"  # failed; suppress the address
    MESSAGE_PERMANENT = "message_permanent"  # failed; tell the owner (content, size, policy)
    UNKNOWN = "unknown"  # the connection died after the final dot: maybe delivered, maybe not


@dataclass(frozen=True)
class SendResult:
    """One attempt's outcome. `reply` is the server's reply on one line (or what the network did)."""

    outcome: Outcome
    reply: str
    explanation: str
    stage: Stage
    code: int | None = None
    enhanced_code: str | None = None

    @property
    def sent(self) -> bool:
        return self.outcome is Outcome.SENT


@dataclass(frozen=True)
class Endpoint:
    """The server as configured: what an explanation names when it tells the owner what to check."""

    host: str
    port: int
    security: Security
    timeout: float

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class ClassifiedFailure(Exception):
    """Carries a classified result out of the connection steps; never leaves the SMTP modules."""

    def __init__(self, result: SendResult) -> None:
        super().__init__(result.reply)
        self.result = result
