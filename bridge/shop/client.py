"""The shop adapter callers hold: one object that reads a PrestaShop shop through its webservice (`/api/`) and
returns typed records, composed of the read families so each concern lives in its own module.

How a real shop behaves (docs/shop-facts.md) is absorbed below it: the HTTP exchange, URL forms and retries
in `transport`, the owner's error wording in `failures`, the filter grammar in `query`, paging and batching in
`paging`; parsing of each object is `bridge.shop.parse`' job.
"""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from bridge.secret import Secret
from bridge.shop.cart_rules import CartRuleWrites
from bridge.shop.carts import CartReads
from bridge.shop.lookups import LookupReads
from bridge.shop.orders import OrderReads
from bridge.shop.reader import ShopReader, zone_named
from bridge.shop.transport import DEFAULT_DEADLINE, DEFAULT_MAX_BODY, DEFAULT_USER_AGENT, Form, ShopTransport


class ShopClient(OrderReads, LookupReads, CartReads, CartRuleWrites):
    """A PrestaShop webservice client: reads, and the one write the bridge makes (a discount code, never
    retried). Reuses one HTTP session; close it (or use `with`)."""

    def __init__(
        self,
        base_url: str,
        api_key: Secret,
        *,
        timeout: float = 20.0,
        retries: int = 3,
        backoff: float = 1.0,
        sleep: Callable[[float], None] | None = None,
        verify: bool | str = True,
        user_agent: str = DEFAULT_USER_AGENT,
        timezone: ZoneInfo | str | None = None,
        deadline: float = DEFAULT_DEADLINE,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        """`base_url` is the shop's address (`https://example.com/shop`), or its `/api` or dispatcher URL.

        `timezone` overrides the shop's PS_TIMEZONE (which otherwise is read once, with one request).
        `verify=True` trusts the system CAs or REQUESTS_CA_BUNDLE; a path trusts that CA bundle.
        `deadline` (seconds) bounds one whole exchange, `max_body` (bytes) one answer (see `transport`).
        """
        if not isinstance(api_key, Secret):
            raise TypeError("api_key must be a bridge.secret.Secret")
        transport = ShopTransport(
            base_url,
            api_key,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            sleep=sleep,
            verify=verify,
            user_agent=user_agent,
            deadline=deadline,
            max_body=max_body,
        )
        if isinstance(timezone, str):
            timezone = zone_named(timezone)
        super().__init__(transport, timezone)

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> ShopClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def copy(self) -> ShopClient:
        """Another client for the same shop and key, with its own HTTP session (a session is not shared
        between threads). What this one learned (URL form, time zone, version) is carried over."""
        twin = ShopClient.__new__(ShopClient)
        ShopReader.__init__(twin, self._transport.copy(), self._timezone)
        return twin

    def __repr__(self) -> str:
        return f"ShopClient({self.base_url!r})"

    @property
    def base_url(self) -> str:
        """The shop's address as the bridge uses it (never with a key or credentials in it)."""
        return self._transport.root

    @property
    def url_form(self) -> Form | None:
        """`api` (URL rewriting) or `dispatcher` once known; None before the first answer."""
        return self._transport.form

    @property
    def version(self) -> str | None:
        """The PrestaShop version from the last `PSWS-Version` header seen (None before, or if never sent)."""
        return self._transport.version
