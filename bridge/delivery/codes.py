"""Personal single-use discount codes, created in the shop just before the email that offers one is sent.

A campaign, birthday or win-back email that offers a personal code carries a request in its outbox context
(`context["personal_code"]`, bridge.model.codes). Delivery claims the row, the marketing gate says "send"
(so a customer who withdrew consent or unsubscribed gets no code), and then `PersonalCodes.attach` gives
the row back with `context["code"]` filled, or says why it must wait or fail. The email is never sent
without the code it promises.

Why at send time: a code created when the email is queued is a code for someone who may never get the
email (the campaign is stopped, the budget spreads it over days, the customer unsubscribes meanwhile).

Why it is created once, whatever happens (the crash argument):
1. the code's text is chosen and committed (bridge.state.codes) before the POST;
2. the POST is never retried blind: a crash, a timeout or a 5xx leaves the code without a cart rule id, and
   the next attempt looks the code up in the shop (`find_cart_rule`) and POSTs only if the shop has none;
3. the email goes only once the shop's rule id is known.
So at most one rule exists per email, and the rule the shop holds is the one the email names. What can be
left is a rule whose POST went through while its email is then never sent (the answer was lost and, before
the retry, the customer unsubscribed or was erased; or the SMTP server refused the email for good): one
rule, restricted to that customer, for the days asked.

The rule: restricted to the row's customer (`id_customer`), quantity 1 and 1 per customer, valid from now
for `valid_days`, a percentage or an amount (the shop's default currency, tax included), an optional
minimum order and free shipping, the request's name in every language of the shop, not highlighted, no
partial use.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Literal, cast

from bridge.errors import ShopError, ShopPermissionError, ShopRequestError, ShopResponseError
from bridge.model.codes import PersonalCode, PersonalCodeRequest, random_code
from bridge.model.cursors import whole_second
from bridge.model.records import CartRuleSpec
from bridge.shop.client import ShopClient
from bridge.state import codes, outbox
from bridge.state.codes import Refusal, StoredCode
from bridge.state.store import Store

log = logging.getLogger(__name__)

REQUEST_KEY: Final = "personal_code"  # what a row asks for (a PersonalCodeRequest)
CODE_KEY: Final = "code"  # what its templates read (a PersonalCode)
SHOP_RETRY: Final = timedelta(minutes=5)  # the shop did not answer: the email waits, the code row stays
# The key may not create cart rules: only the owner can change that, in the back office. Each email waits
# this long, and no POST is tried meanwhile.
PERMISSION_RETRY: Final = timedelta(hours=1)


@dataclass(frozen=True)
class Attached:
    """What `PersonalCodes.attach` decided: send `row` (with its code), wait until `until`, or fail."""

    action: Literal["send", "wait", "fail"]
    row: outbox.OutboxRow | None = None
    reason: str = ""
    until: datetime | None = None


@dataclass(frozen=True)
class ShopFacts:
    """What every code of a run needs from the shop: read once, when the first code is created."""

    currency_id: int
    currency: str  # ISO code
    language_ids: tuple[int, ...]


def requested(row: outbox.OutboxRow) -> PersonalCodeRequest | None:
    """The personal code this row asks for, if any."""
    request = row.context.get(REQUEST_KEY)
    return cast(PersonalCodeRequest, request) if isinstance(request, Mapping) else None


class PersonalCodes:
    """The step between the marketing gate and sending, for one delivery run (its shop facts are cached)."""

    def __init__(
        self, store: Store, client: ShopClient | None, *, choice: Callable[[str], str] = secrets.choice
    ) -> None:
        self.store = store
        self.client = client
        self.choice = choice
        self._facts: ShopFacts | None = None

    def attach(self, row: outbox.OutboxRow, now: datetime) -> Attached:
        """The row with `context["code"]` (the code created now if it has none yet), or why it cannot go."""
        request = requested(row)
        if request is None:
            return Attached("send", row)
        with self.store.read() as conn:
            stored = codes.code_for(conn, row.id)
            suppressed = outbox.is_suppressed(conn, row.recipient_email)
            refusal = codes.load_refusal(conn)
        if suppressed is not None and (stored is None or stored.cart_rule_id is None):
            return Attached("send", row)  # it fails at once, unsent: no code for it
        if stored is not None and stored.cart_rule_id is not None:
            return self._ready(row, request, stored, now)
        if row.customer_id is None:
            return Attached("fail", reason="a personal discount code needs the customer: the email has none")
        if refusal is not None and refusal.until > now:
            return Attached("wait", reason=refusal.reason, until=refusal.until)
        if self.client is None:
            return Attached(
                "wait", reason="the shop must be asked to create the discount code", until=now + SHOP_RETRY
            )
        try:
            stored = self._create(self.client, row, request, stored, now)
        except ShopPermissionError as error:
            return self._refused(error, now)
        except ShopError as error:
            return _shop_failed(row, error, now)
        except (ValueError, ArithmeticError, KeyError, TypeError) as error:
            return Attached(
                "fail", reason=f"the personal discount code this email asks for is invalid: {error}"
            )
        return self._ready(row, request, stored, now)

    def _ready(
        self, row: outbox.OutboxRow, request: PersonalCodeRequest, stored: StoredCode, now: datetime
    ) -> Attached:
        if stored.valid_until <= now:
            return Attached(
                "fail",
                reason=f"its personal discount code (cart rule #{stored.cart_rule_id}) expired on "
                f"{stored.valid_until:%Y-%m-%d %H:%M} UTC before the email could be sent",
            )
        code = personal_code(request, stored)
        return Attached("send", dataclasses.replace(row, context={**row.context, CODE_KEY: code}))

    def _create(
        self,
        client: ShopClient,
        row: outbox.OutboxRow,
        request: PersonalCodeRequest,
        stored: StoredCode | None,
        now: datetime,
    ) -> StoredCode:
        """The row's code with its cart rule id: the one an earlier attempt chose, if the shop has it; else
        created now, its text committed before the POST."""
        if stored is not None:  # chosen before, the POST's fate unknown: the shop may have it
            found = client.find_cart_rule(stored.code)
            if found is not None:
                log.info("outbox #%s: personal code found in the shop as cart rule #%s", row.id, found)
                return self._confirm(row.id, found, now)
        facts = self._shop_facts(client)
        code = (
            stored.code
            if stored is not None
            else random_code(request.get("prefix") or "", choice=self.choice)
        )
        valid_until = whole_second(now) + timedelta(days=int(request["valid_days"]))
        spec = rule_spec(request, code, row.customer_id or 0, facts, whole_second(now), valid_until)
        with self.store.transaction() as conn:
            codes.choose(
                conn,
                outbox_id=row.id,
                customer_id=spec.id_customer,
                code=code,
                currency=facts.currency,
                valid_until=valid_until,
                now=now,
            )
        rule_id = client.create_cart_rule(spec)
        log.info(
            "outbox #%s: personal code created as cart rule #%s for customer #%s",
            row.id,
            rule_id,
            spec.id_customer,
        )
        return self._confirm(row.id, rule_id, now)

    def _confirm(self, outbox_id: int, rule_id: int, now: datetime) -> StoredCode:
        with self.store.transaction() as conn:
            codes.clear_refusal(conn)
            return codes.confirm(conn, outbox_id, rule_id, now=now)

    def _shop_facts(self, client: ShopClient) -> ShopFacts:
        if self._facts is None:
            configured = client.configuration(["PS_CURRENCY_DEFAULT"])["PS_CURRENCY_DEFAULT"] or ""
            currencies = {currency.id: currency for currency in client.currencies()}
            default = currencies.get(int(configured)) if configured.strip().isdigit() else None
            if default is None:
                raise ShopResponseError(
                    f"the shop's default currency (PS_CURRENCY_DEFAULT={configured!r}) is not one of its "
                    "currencies: check Localization → Currencies in the back office",
                    resource="currencies",
                )
            languages = tuple(sorted(language.id for language in client.languages()))
            self._facts = ShopFacts(default.id, default.iso_code.upper(), languages)
        return self._facts

    def _refused(self, error: ShopPermissionError, now: datetime) -> Attached:
        """The key may not create cart rules: every email with a personal code waits, told once."""
        until = now + PERMISSION_RETRY
        reason = f"no personal discount code: {error}; tried again at {until:%Y-%m-%d %H:%M} UTC"
        with self.store.transaction() as conn:
            codes.save_refusal(conn, Refusal(reason, until), now=now)
        log.error("emails with a personal discount code wait: %s", reason)
        return Attached("wait", reason=reason, until=until)


def _shop_failed(row: outbox.OutboxRow, error: ShopError, now: datetime) -> Attached:
    """A refused rule (HTTP 4xx: the shop's validation) fails the email; anything else waits for the shop,
    the chosen code kept, so the next attempt looks it up first."""
    if isinstance(error, ShopRequestError) and error.status is not None and 400 <= error.status < 500:
        return Attached("fail", reason=f"the shop refused the personal discount code: {error}")
    log.warning("outbox #%s waits: creating its personal discount code failed: %s", row.id, error)
    return Attached(
        "wait",
        reason=f"waiting for the shop to create the personal discount code: {error}",
        until=now + SHOP_RETRY,
    )


def rule_spec(
    request: PersonalCodeRequest,
    code: str,
    customer_id: int,
    facts: ShopFacts,
    valid_from: datetime,
    valid_until: datetime,
) -> CartRuleSpec:
    """The cart rule of one personal code (ValueError or ArithmeticError for a request that is not valid)."""
    amount = _decimal(request.get("amount"))
    minimum = _decimal(request.get("minimum_amount"))
    name = str(request.get("name") or "").strip()[:254]
    return CartRuleSpec(
        code=code,
        names=dict.fromkeys(facts.language_ids, name),
        date_from=valid_from,
        date_to=valid_until,
        id_customer=customer_id,
        reduction_percent=_decimal(request.get("percent")),
        reduction_amount=amount,
        reduction_currency=facts.currency_id if amount is not None else 0,
        reduction_tax=True,
        free_shipping=bool(request.get("free_shipping")),
        quantity=1,
        quantity_per_user=1,
        minimum_amount=minimum,
        minimum_amount_currency=facts.currency_id if minimum is not None else 0,
        minimum_amount_tax=True,
        highlight=False,
        partial_use=False,
        description=str(request.get("description") or "")[:254],
    )


def personal_code(request: PersonalCodeRequest, stored: StoredCode) -> PersonalCode:
    """What the templates read of the code (`code.code`, `code.valid_until`, …)."""
    return {
        "code": stored.code,
        "percent": request.get("percent"),
        "amount": request.get("amount"),
        "currency": stored.currency,
        "minimum_amount": request.get("minimum_amount"),
        "free_shipping": bool(request.get("free_shipping")),
        "valid_until": stored.valid_until.astimezone(UTC).isoformat(),
    }


def _decimal(value: Any) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return Decimal(str(value).strip())


def refusal_line(store: Store, now: datetime) -> str | None:
    """`bridge status`'s problem line while the key may not create the personal codes emails wait for."""
    with store.read() as conn:
        refusal = codes.load_refusal(conn)
    return refusal.reason if refusal is not None and refusal.until > now else None
