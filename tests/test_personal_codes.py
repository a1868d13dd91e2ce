"""Personal single-use discount codes (issue 18): a cart rule per email, created just before it is sent.

End to end with real parts: marketing rows queued through the outbox's insert API (as a planner's apply
queues them) carry a `personal_code` request; `sync` delivers them through the webservice simulator (which
creates cart rules as PrestaShop 8.1 does) and the Gmail-like SMTP server, on the injected clock. The rows
are `review_request`s, a marketing kind whose templates ignore `code`: what the email was rendered with is
read from a renderer that records each context. The crash tests run `bridge sync` as a real process and
SIGKILL it while the simulator holds its answer to the POST, or while SMTP holds MAIL FROM.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bridge.commands import explain
from bridge.commands.status import gather
from bridge.delivery.codes import PERMISSION_RETRY, SHOP_RETRY
from bridge.mail.render import RenderedEmail, Renderer, UnsubscribeLinks
from bridge.model.campaign_kinds import CAMPAIGN
from bridge.model.codes import CODE_ALPHABET, PersonalCodeRequest, random_code
from bridge.model.identity import ShopIdentity
from bridge.model.kinds import REVIEW_REQUEST, get_kind
from bridge.simulator import Simulator
from bridge.state import codes, outbox, unsubscribes
from bridge.state.outbox import EmailIntent, OutboxRow, Status
from bridge.state.store import Store, open_store
from tests.conftest import SHOP_KEY, World, html_of, text_of
from tests.test_cart_reminders import UNSUBSCRIBE_URL, customer, started
from tests.test_crash import Rig, holding_smtp, rig  # noqa: F401 - the crash tests' fixtures
from tests.test_crash import started as rig_started

WARSAW = ZoneInfo("Europe/Warsaw")
PLN, EN, PL = 1, 1, 2  # the demo shop's currency and language ids
ANNA, BARTEK = "anna@example.com", "bartek@example.com"


def request(**changes: Any) -> PersonalCodeRequest:
    base: PersonalCodeRequest = {
        "prefix": "BF",
        "percent": "10",
        "amount": None,
        "valid_days": 7,
        "minimum_amount": "100.00",
        "free_shipping": False,
        "description": "campaign black-friday-2026",
        "name": "Rabat Black Friday",
    }
    return {**base, **changes}  # type: ignore[typeddict-item]


def queue(
    store: Store,
    customer_id: int,
    email: str,
    now: datetime,
    *,
    key: str,
    code: PersonalCodeRequest | None,
    not_before: datetime | None = None,
    kind: str = REVIEW_REQUEST,
) -> int:
    """A marketing row as a planner's apply queues it, asking for a personal code (`kind`'s sample context
    otherwise, without a code: that is set when the email is sent)."""
    context: dict[str, Any] = get_kind(kind).sample()
    context.pop("code", None)
    context.pop("personal_code", None)
    if code is not None:
        context["personal_code"] = code
    intent = EmailIntent(
        idempotency_key=key,
        kind=kind,
        category="marketing",
        recipient_email=email,
        language="pl",
        recipient_name="Zofia Wiśniewska",
        priority=7,
        context=context,
        consent="newsletter=1 since 2026-11-27",
        customer_id=customer_id,
        not_before=not_before,
    )
    with store.transaction() as conn:
        assert outbox.enqueue(conn, intent, now=now, message_id_domain="sklep.example.pl")
        queued = outbox.find(conn, key)
    assert queued is not None
    return queued.id


class RecordingRenderer(Renderer):
    """The shipped renderer, remembering the context each Message-ID was rendered with."""

    def __init__(self) -> None:
        super().__init__()
        self.contexts: dict[str, Mapping[str, Any]] = {}

    def render(
        self,
        kind: str,
        language: str,
        context: Mapping[str, Any],
        *,
        shop: ShopIdentity,
        message_id: str,
        recipient: Any,
        now: datetime,
        unsubscribe: UnsubscribeLinks | None = None,
        bridge_key: str | None = None,
    ) -> RenderedEmail:
        self.contexts[message_id] = context
        return super().render(
            kind,
            language,
            context,
            shop=shop,
            message_id=message_id,
            recipient=recipient,
            now=now,
            unsubscribe=unsubscribe,
            bridge_key=bridge_key,
        )


def ready(world: World, **settings: str) -> RecordingRenderer:
    started(world, **settings)
    world.renderer = RecordingRenderer()
    return world.renderer


def rules(world: World) -> list[dict[str, Any]]:
    return world.shop.state.rows("cart_rules")


def posts(server: Simulator) -> int:
    return sum(r.method == "POST" for r in server.requests)


def row(store: Store, row_id: int) -> OutboxRow:
    detail = outbox.get_row(store, row_id)
    assert detail is not None
    return detail.row


def local(moment: datetime) -> datetime:
    """A UTC instant as the shop stores it: Warsaw wall time, whole seconds."""
    return moment.astimezone(WARSAW).replace(tzinfo=None, microsecond=0)


def stored_code(store: Store, row_id: int) -> codes.StoredCode:
    with store.read() as conn:
        found = codes.code_for(conn, row_id)
    assert found is not None
    return found


# --- the code and its rule ------------------------------------------------------------------------------


def test_each_email_gets_one_code_restricted_to_its_customer_and_a_rerun_creates_nothing_more(
    world: World,
) -> None:
    renderer = ready(world)
    anna, bartek = customer(world.shop, ANNA), customer(world.shop, BARTEK)
    now = world.clock.now()
    first = queue(world.store, anna, ANNA, now, key="test:anna", code=request())
    second = queue(
        world.store,
        bartek,
        BARTEK,
        now,
        key="test:bartek",
        code=request(percent=None, amount="20.00", minimum_amount=None, free_shipping=True, prefix="bf 26!"),
    )
    assert rules(world) == []  # queued, not sent: no code exists yet

    sent_at = world.clock.now()
    assert world.sync().delivery.sent == 2
    by_customer = {rule["id_customer"]: rule for rule in rules(world)}
    assert sorted(by_customer) == [anna, bartek]  # one rule each, each for its customer only
    for rule in by_customer.values():
        assert (rule["quantity"], rule["quantity_per_user"]) == (1, 1)
        assert (rule["highlight"], rule["partial_use"], rule["active"]) == (False, False, True)
        assert rule["date_from"] == local(sent_at)
        assert rule["date_to"] == local(sent_at + timedelta(days=7))
        assert rule["name"] == {EN: "Rabat Black Friday", PL: "Rabat Black Friday"}
        assert rule["description"] == "campaign black-friday-2026"
    percent, amount = by_customer[anna], by_customer[bartek]
    assert percent["code"].startswith("BF-") and len(percent["code"]) == 11
    assert set(percent["code"][3:]) <= set(CODE_ALPHABET)
    assert (percent["reduction_percent"], percent["reduction_amount"]) == (Decimal("10.00"), Decimal("0.00"))
    assert (percent["minimum_amount"], percent["minimum_amount_currency"]) == (Decimal("100.00"), PLN)
    assert percent["free_shipping"] is False
    assert amount["code"].startswith("BF26-")
    assert (amount["reduction_amount"], amount["reduction_currency"], amount["reduction_tax"]) == (
        Decimal("20.00"),
        PLN,
        True,
    )
    assert (amount["reduction_percent"], amount["free_shipping"]) == (Decimal("0.00"), True)

    # The emails were rendered with the code the shop holds for their customer.
    rendered = {
        r.customer_id: renderer.contexts[r.message_id] for r in (row(world.store, i) for i in (first, second))
    }
    assert rendered[anna]["code"] == {
        "code": percent["code"],
        "percent": "10",
        "amount": None,
        "currency": "PLN",
        "minimum_amount": "100.00",
        "free_shipping": False,
        "valid_until": (sent_at.replace(microsecond=0) + timedelta(days=7)).isoformat(),
    }
    assert rendered[bartek]["code"]["code"] == amount["code"]
    assert rendered[bartek]["code"]["amount"] == "20.00" and rendered[bartek]["code"]["free_shipping"]
    assert len(world.mail()) == 2

    line = explain.personal_code_line(world.store, row(world.store, first), UTC)
    assert line is not None and percent["code"] in line and f"cart rule #{percent['id']}" in line
    assert f"customer #{anna} only" in line

    world.shop.advance(timedelta(days=1))
    assert world.sync().delivery.sent == 0
    assert len(rules(world)) == 2 and len(world.mail()) == 2


def test_a_campaign_email_shows_its_customer_the_code_the_shop_holds_for_them(world: World) -> None:
    ready(world)
    anna = customer(world.shop, ANNA)
    queue(world.store, anna, ANNA, world.clock.now(), key="test:anna", code=request(), kind=CAMPAIGN)
    assert world.sync().delivery.sent == 1
    [rule] = rules(world)
    [mail] = world.mail_to(ANNA)
    assert rule["id_customer"] == anna
    assert rule["code"] in text_of(mail) and rule["code"] in html_of(mail)


def test_codes_are_made_only_for_emails_that_go_so_a_stopped_campaign_leaves_none_unused(
    world: World,
) -> None:
    ready(world)
    anna, bartek = customer(world.shop, ANNA), customer(world.shop, BARTEK)
    now = world.clock.now()
    queue(world.store, anna, ANNA, now, key="test:anna", code=request())
    # Spread over days by the budget: Bartek's turn comes tomorrow.
    tomorrow = now + timedelta(days=1)
    later = queue(world.store, bartek, BARTEK, now, key="test:bartek", code=request(), not_before=tomorrow)
    world.sync()
    assert [rule["id_customer"] for rule in rules(world)] == [anna]

    assert outbox.cancel(world.store, later, now=world.clock.now())  # the owner stops the campaign
    world.shop.advance(timedelta(days=2))
    world.sync()
    assert [rule["id_customer"] for rule in rules(world)] == [anna]
    with world.store.read() as conn:
        assert codes.code_for(conn, later) is None


def test_a_customer_who_unsubscribed_gets_no_email_and_no_code(world: World, shop_server: Simulator) -> None:
    ready(world)
    anna = customer(world.shop, ANNA)
    row_id = queue(world.store, anna, ANNA, world.clock.now(), key="test:anna", code=request())
    with world.store.transaction() as conn:
        unsubscribes.add(conn, ANNA, "one-click", now=world.clock.now())
    world.sync()
    cancelled = row(world.store, row_id)
    assert cancelled.status is Status.CANCELLED and "unsubscribed" in (cancelled.skip_reason or "")
    assert rules(world) == [] and world.mail() == []
    assert posts(shop_server) == 0


def test_a_bounced_address_gets_no_code(world: World, shop_server: Simulator) -> None:
    ready(world)
    anna = customer(world.shop, ANNA)
    row_id = queue(world.store, anna, ANNA, world.clock.now(), key="test:anna", code=request())
    with world.store.transaction() as conn:
        outbox.suppress(conn, ANNA, "550 5.1.1 no such user", now=world.clock.now())
    world.sync()
    failed = row(world.store, row_id)
    assert failed.status is Status.FAILED and world.mail() == []
    assert rules(world) == [] and posts(shop_server) == 0
    with world.store.read() as conn:
        assert codes.code_for(conn, row_id) is None


def test_a_customer_who_withdrew_consent_gets_no_code(world: World) -> None:
    ready(world)
    anna = customer(world.shop, ANNA)
    row_id = queue(world.store, anna, ANNA, world.clock.now(), key="test:anna", code=request())
    world.shop.update_customer(anna, newsletter=False)
    world.sync()
    assert row(world.store, row_id).status is Status.CANCELLED
    assert rules(world) == [] and world.mail() == []


# --- the shop does not cooperate ------------------------------------------------------------------------


def test_a_500_after_the_shop_saved_the_rule_is_looked_up_next_time_not_created_again(
    world: World, shop_server: Simulator
) -> None:
    renderer = ready(world)
    anna = customer(world.shop, ANNA)
    row_id = queue(world.store, anna, ANNA, world.clock.now(), key="test:anna", code=request())
    shop_server.faults.next("500", resource="cart_rules")  # PHP dies after saving the rule

    assert world.sync().delivery.sent == 0
    waiting = row(world.store, row_id)
    assert waiting.status is Status.QUEUED and waiting.attempts == 0 and world.mail() == []
    assert "waiting for the shop to create the personal discount code" in (waiting.last_error or "")
    assert waiting.not_before == world.clock.now() + SHOP_RETRY
    [saved] = rules(world)
    pending = stored_code(world.store, row_id)
    assert (pending.code, pending.cart_rule_id) == (saved["code"], None)  # chosen before the POST
    line = explain.personal_code_line(world.store, waiting, UTC)
    assert line is not None and "not known yet" in line

    world.shop.advance(SHOP_RETRY)
    assert world.sync().delivery.sent == 1
    assert rules(world) == [saved]  # found by its code: no second rule
    assert posts(shop_server) == 1
    assert stored_code(world.store, row_id).cart_rule_id == saved["id"]
    assert renderer.contexts[waiting.message_id]["code"]["code"] == saved["code"]
    assert len(world.mail()) == 1


def test_a_post_the_shop_never_saved_is_made_again_with_the_same_code_once_the_lookup_finds_none(
    world: World, shop_server: Simulator
) -> None:
    renderer = ready(world)
    anna = customer(world.shop, ANNA)
    row_id = queue(world.store, anna, ANNA, world.clock.now(), key="test:anna", code=request())
    shop_server.faults.next("reset", resource="cart_rules")  # the connection drops: no answer at all
    world.sync()
    waiting = row(world.store, row_id)
    assert waiting.status is Status.QUEUED and world.mail() == []
    chosen = stored_code(world.store, row_id)
    [lost] = rules(world)
    world.shop.state.delete("cart_rules", lost["id"])  # as if PHP had died before saving it

    world.shop.advance(SHOP_RETRY)
    world.sync()
    [rule] = rules(world)
    assert rule["code"] == chosen.code and rule["id"] != lost["id"]  # looked up, missing, created again
    assert posts(shop_server) == 2
    assert row(world.store, row_id).status is Status.SENT
    assert renderer.contexts[waiting.message_id]["code"]["code"] == chosen.code


def test_a_key_that_may_not_create_cart_rules_holds_the_emails_and_says_what_to_tick(
    world: World, shop_server: Simulator
) -> None:
    ready(world)
    anna, bartek = customer(world.shop, ANNA), customer(world.shop, BARTEK)
    now = world.clock.now()
    first = queue(world.store, anna, ANNA, now, key="test:anna", code=request())
    second = queue(world.store, bartek, BARTEK, now, key="test:bartek", code=request())
    server = shop_server
    server.add_key(SHOP_KEY, {name: ["GET", "HEAD"] for name in server.resource_names()})

    result = world.sync().delivery
    assert (result.sent, result.deferred) == (0, 2)
    assert rules(world) == [] and world.mail() == []
    assert posts(server) == 1  # the second email did not ask again
    for row_id in (first, second):
        waiting = row(world.store, row_id)
        assert waiting.status is Status.QUEUED and waiting.not_before == now + PERMISSION_RETRY
        assert "tick POST for `cart_rules`" in (waiting.last_error or "")
    problems = gather(world.store, world.settings, now=world.clock.now()).problems
    assert any("tick POST for `cart_rules`" in problem for problem in problems)
    story = explain.address_story_lines(world.store, ANNA, UTC, lambda r: r.language)
    assert any("last error" in line and "Webservice" in line for line in story)

    server.add_key(SHOP_KEY)  # the owner ticked it
    world.shop.advance(PERMISSION_RETRY)
    assert world.sync().delivery.sent == 2
    assert sorted(rule["id_customer"] for rule in rules(world)) == [anna, bartek]
    problems = gather(world.store, world.settings, now=world.clock.now()).problems
    assert not any("cart_rules" in problem for problem in problems)


def test_a_rule_the_shop_refuses_fails_its_email_rather_than_sending_it_without_the_code(
    world: World,
) -> None:
    ready(world)
    anna = customer(world.shop, ANNA)
    # isCleanHtml refuses the description: 400, code 85, whatever the retry.
    row_id = queue(
        world.store,
        anna,
        ANNA,
        world.clock.now(),
        key="test:anna",
        code=request(description="<script>x</script>"),
    )
    assert world.sync().delivery.failed == 1
    failed = row(world.store, row_id)
    assert failed.status is Status.FAILED and "the shop refused the personal discount code" in (
        failed.last_error or ""
    )
    assert rules(world) == [] and world.mail() == []


def test_an_email_without_a_code_request_goes_as_before(world: World) -> None:
    renderer = ready(world)
    anna = customer(world.shop, ANNA)
    row_id = queue(world.store, anna, ANNA, world.clock.now(), key="test:anna", code=None)
    assert world.sync().delivery.sent == 1
    assert rules(world) == []
    assert "code" not in renderer.contexts[row(world.store, row_id).message_id]


def test_forgetting_the_address_forgets_its_code_in_the_store(world: World) -> None:
    from bridge.state.retention import forget

    ready(world)
    anna = customer(world.shop, ANNA)
    row_id = queue(world.store, anna, ANNA, world.clock.now(), key="test:anna", code=request())
    world.sync()
    assert stored_code(world.store, row_id).cart_rule_id is not None
    forget(world.store, ANNA, now=world.clock.now())
    with world.store.read() as conn:
        assert codes.code_for(conn, row_id) is None
    assert len(rules(world)) == 1  # the rule itself stays in the shop, where the owner manages it


def test_random_codes_are_typeable_with_a_readable_prefix() -> None:
    picks = iter("ABCDEFGH")
    assert random_code("bf-2026 ż", choice=lambda _: next(picks)) == "BF2026-ABCDEFGH"
    plain = random_code(length=10)
    assert len(plain) == 10 and set(plain) <= set(CODE_ALPHABET)
    assert not set("01OI") & set(CODE_ALPHABET)


# --- crashes: a real `bridge sync` killed at a named point ------------------------------------------------


def rig_queue(crashed: Rig, *names: str) -> dict[int, tuple[int, str]]:
    """A customer with newsletter consent per name, and a row for each asking for a code: {row id: (customer,
    address)}."""
    queued = {}
    with open_store(crashed.database) as store:
        for name in names:
            email = f"{name}@example.com"
            customer_id = customer(crashed.shop, email)
            row_id = queue(store, customer_id, email, datetime.now(UTC), key=f"test:{name}", code=request())
            queued[row_id] = (customer_id, email)
    return queued


def rig_codes(crashed: Rig) -> dict[int, codes.StoredCode]:
    with open_store(crashed.database) as store, store.read() as conn:
        return codes.codes_for(conn, [r.id for r in crashed.rows()])


@pytest.fixture
def marketing_rig(rig: Rig) -> Rig:  # noqa: F811 (the fixture imported above)
    """tests/test_crash.py's rig with marketing mail on, after its first run."""
    rig.write_env(UNSUBSCRIBE_URL=UNSUBSCRIBE_URL)
    return rig_started(rig)


def test_killed_while_the_shop_holds_the_answer_to_the_post_the_restart_finds_the_code_and_sends_once(
    marketing_rig: Rig,
) -> None:
    rig = marketing_rig  # noqa: F811 (a name, not the fixture)
    queued = rig_queue(rig, "anna", "bartek")
    first = min(queued)
    faults = rig.shop_server.faults
    faults.timeout_hold = 60
    faults.next("timeout", resource="cart_rules")
    run = rig.start()
    rig.kill_when(
        run, lambda: any("cart_rules" in path for _, path in faults.injected), "posting a cart rule"
    )
    faults.let_go()

    # What the crash left: the shop saved the rule, the store chose its code first, nothing was sent.
    [saved] = rig.shop.state.rows("cart_rules")
    assert rig_codes(rig)[first].code == saved["code"] and rig_codes(rig)[first].cart_rule_id is None
    assert rig.smtp.messages == []

    assert rig.sync().endswith("; 2 sent, 0 to retry, 0 failed\n")
    saved_rules = rig.shop.state.rows("cart_rules")
    assert sorted(rule["id_customer"] for rule in saved_rules) == sorted(c for c, _ in queued.values())
    assert saved_rules[0] == saved  # the held POST's rule, found by its code, not created again
    assert posts(rig.shop_server) == 2  # one per email, ever
    made = rig_codes(rig)
    assert {made[row_id].cart_rule_id for row_id in queued} == {rule["id"] for rule in saved_rules}
    assert sorted(m.recipients[0] for m in rig.smtp.messages) == sorted(e for _, e in queued.values())

    rig.sync_here()
    assert len(rig.shop.state.rows("cart_rules")) == 2 and len(rig.smtp.messages) == 2


def test_killed_while_smtp_holds_mail_from_the_restart_sends_the_same_code(marketing_rig: Rig) -> None:
    rig = marketing_rig  # noqa: F811 (a name, not the fixture)
    [row_id] = rig_queue(rig, "anna")
    rig.smtp.holds.arm("MAIL")
    run = rig.start()
    rig.kill_when(run, lambda: rig.smtp.holds.held("MAIL") == 1, "waiting for the reply to MAIL FROM")
    [rule] = rig.shop.state.rows("cart_rules")
    before = rig_codes(rig)[row_id]
    assert (before.code, before.cart_rule_id) == (rule["code"], rule["id"])

    assert rig.sync().endswith("; 1 sent, 0 to retry, 0 failed\n")
    assert rig.shop.state.rows("cart_rules") == [rule]
    assert rig_codes(rig)[row_id] == before
    assert posts(rig.shop_server) == 1
    assert len(rig.smtp.messages) == 1
