"""The bridge's whole error taxonomy, in one place.

    BridgeError                      anything the owner can act on; carries a sysexits code
    ├── ConfigError (78)             settings missing or invalid; lists every problem at once
    ├── ShopError (69)               the shop could not be read
    │   ├── ShopUnreachable (69)     DNS, refused connection, timeout, TLS failure
    │   ├── ShopDisabled (69)        webservice switched off in the back office (503, code 22)
    │   ├── ShopServerError (69)     5xx after the bounded retries
    │   ├── ShopAuthError (77)       the API key is refused (401, codes 17/18/20/21)
    │   ├── ShopPermissionError (77) the key may not read a resource (401 code 26, 405 code 25)
    │   ├── ShopRequestError (76)    the shop rejected a request the bridge built (400/500 codes 27-39)
    │   └── ShopResponseError (76)   an answer that is not the JSON the webservice promises
    ├── StoreError (73)              the state store cannot be opened or migrated
    ├── LockError (75)               another bridge process holds the lock
    └── DeliveryError (75)           SMTP delivery failed (`permanent` says whether to retry)

Only `bridge.cli` turns these into a one-line message and an exit code. Anything that is not a
BridgeError is a bug and keeps its traceback.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base class: `str(error)` is the one line shown to the owner."""

    exit_code: int = 70  # EX_SOFTWARE


class ConfigError(BridgeError):
    """Settings are missing or invalid. `problems` has one line per problem, each naming its setting."""

    exit_code = 78  # EX_CONFIG

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        if len(self.problems) == 1:
            message = f"configuration: {self.problems[0]}"
        else:
            listed = "".join(f"\n  - {problem}" for problem in self.problems)
            message = f"configuration has {len(self.problems)} problems:{listed}"
        super().__init__(message)


class ShopError(BridgeError):
    """The shop's webservice could not be read. `resource` names what was being read, if known."""

    exit_code = 69  # EX_UNAVAILABLE

    def __init__(self, message: str, *, resource: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.resource = resource
        self.status = status


class ShopUnreachable(ShopError):
    """No HTTP answer at all: DNS, refused connection, timeout or a TLS failure."""


class ShopDisabled(ShopError):
    """The webservice is switched off (HTTP 503, code 22)."""


class ShopServerError(ShopError):
    """The shop kept answering 5xx after the bounded retries."""


class ShopAuthError(ShopError):
    """The API key itself is refused."""

    exit_code = 77  # EX_NOPERM


class ShopPermissionError(ShopError):
    """The key is valid but may not read this resource (or use this method)."""

    exit_code = 77  # EX_NOPERM


class ShopRequestError(ShopError):
    """The shop rejected a request the bridge built: a bug here, or a shop version we do not know."""

    exit_code = 76  # EX_PROTOCOL


class ShopResponseError(ShopError):
    """The answer is not what the webservice promises (HTML, truncated JSON, unexpected shape)."""

    exit_code = 76  # EX_PROTOCOL


class StoreError(BridgeError):
    """The state store cannot be opened, locked or migrated."""

    exit_code = 73  # EX_CANTCREAT


class LockError(BridgeError):
    """Another bridge process is running."""

    exit_code = 75  # EX_TEMPFAIL


class DeliveryError(BridgeError):
    """SMTP delivery failed. `permanent` errors are never retried; the others are."""

    exit_code = 75  # EX_TEMPFAIL

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
