"""`bridge preview KIND --order ID`: one real order of the shop, rendered as its customer would get it.

The context is built the way the sync builds it (the same batched reads, then `bridge.plan.rules.decide` on a
change that would send that kind), so the preview shows the order's real products, addresses, carrier,
bank details and language, and refuses with the same reason the sync would skip the email for. Nothing is
queued or sent. By default each email is printed (headers and text part) and nothing is written; with
`--output DIR`, an `.html` file (open it in a browser) and an `.eml` file (open it in a mail client, or
feed it to a spam filter) are written per email into DIR.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Final

from bridge.clock import Clock, SystemClock
from bridge.config import Settings
from bridge.cycle.orders import rule_settings
from bridge.errors import BridgeError
from bridge.files import make_private_dir, write_private
from bridge.mail.addresses import file_bytes
from bridge.mail.render import RenderedEmail, Renderer, get_renderer
from bridge.model.headers import make_address
from bridge.model.kinds import (
    AWAITING_BANK_WIRE,
    AWAITING_CHEQUE,
    KINDS,
    ORDER_CONFIRMATION,
    SAMPLE_UNSUBSCRIBE,
    SHIPPED,
    TRACKING_ADDED,
    get_kind,
)
from bridge.model.profile import STATUS_KINDS, ShopProfile
from bridge.model.records import Order, OrderHistory
from bridge.plan.contexts import OrderFacts
from bridge.plan.detect import Change, NewOrder, StateChanged
from bridge.plan.rules import Decision, RuleSettings, decide
from bridge.shop.client import ShopClient
from bridge.shop.facts import gather_facts
from bridge.shop.profile import load_profile

log = logging.getLogger(__name__)

# The kinds an order can get; `test_email` is about the SMTP settings, not an order.
ORDER_KINDS: Final = (ORDER_CONFIRMATION, *sorted(STATUS_KINDS), TRACKING_ADDED)
# Waiting-for-payment kinds that only an order paid with that module ever gets.
PAYMENT_METHOD_KINDS: Final = frozenset({AWAITING_BANK_WIRE, AWAITING_CHEQUE})


class PreviewError(BridgeError):
    """This order cannot be previewed as that kind; the message says why (the sync would skip it too)."""

    exit_code = 65  # EX_DATAERR


class OrderNotFound(PreviewError):
    exit_code = 66  # EX_NOINPUT


@dataclasses.dataclass(frozen=True)
class Preview:
    """One email of one order, rendered as its customer would get it."""

    order: Order
    kind: str
    rendered: RenderedEmail


def preview_order(
    client: ShopClient,
    settings: Settings,
    kind: str | None,
    order_id_or_reference: int | str,
    *,
    output_dir: Path,
    language: str | None = None,
    all_kinds: bool = False,
    clock: Clock | None = None,
    renderer: Renderer | None = None,
) -> list[Path]:
    """`render_previews`, written into `output_dir`: two paths per email, `.html` then `.eml`."""
    previews = render_previews(
        client,
        settings,
        kind,
        order_id_or_reference,
        language=language,
        all_kinds=all_kinds,
        clock=clock,
        renderer=renderer,
    )
    return [path for preview in previews for path in write_preview(output_dir, preview)]


def render_previews(
    client: ShopClient,
    settings: Settings,
    kind: str | None,
    order_id_or_reference: int | str,
    *,
    language: str | None = None,
    all_kinds: bool = False,
    clock: Clock | None = None,
    renderer: Renderer | None = None,
) -> list[Preview]:
    """Render `kind` (or, with `all_kinds`, every kind that applies) for one real order.

    Without `language` the order's own language is used, as the sync would; with `all_kinds` and no
    `language`, every active shop language.
    """
    if not all_kinds:
        if kind is None:
            raise PreviewError("name an email kind, or use --all")
        if kind not in ORDER_KINDS:
            known = ", ".join(ORDER_KINDS)
            about = " (it is not about a customer's order)" if kind in KINDS else ""
            raise PreviewError(f"{kind!r} cannot be previewed for an order{about}; order kinds: {known}")
    now = (clock or SystemClock()).now()
    renderer = renderer or get_renderer(settings.templates_dir)
    order = find_order(client, order_id_or_reference)
    profile = load_profile(client, settings)
    facts = gather_facts(client, profile, [order], image_type=settings.product_images)[order.id]
    histories = client.order_histories(order_ids=[order.id])
    settings_for_rules = rule_settings(settings)
    label = order.reference or str(order.id)
    # Empty: the order's own language, as the sync would send it.
    languages = [language] if language else (shop_languages(profile) if all_kinds else [])

    previews: list[Preview] = []
    for name in applicable_kinds(facts, profile, histories) if all_kinds else [kind or ""]:
        decision = decision_for(name, facts, profile, settings_for_rules, histories)
        if not decision.sends:
            why = decision.skip_reason or "no reason given"
            if not all_kinds:
                raise PreviewError(f"order {label}: {name} would not be sent: {why}")
            log.warning("order %s: no %s preview: %s", label, name, why)
            continue
        done: set[str] = set()
        for requested in languages or [decision.language]:
            rendered = render_decision(renderer, name, requested, decision, profile, now)
            if rendered.language_used in done:
                continue  # a shop language without templates fell back to one already written
            done.add(rendered.language_used)
            if rendered.fell_back:
                log.warning(
                    "%s has no %r templates: previewed in %r, as the bridge would send it",
                    name,
                    requested,
                    rendered.language_used,
                )
            previews.append(Preview(order, name, rendered))
    return previews


# --- finding the order and its facts -------------------------------------------------------------------


def find_order(client: ShopClient, order_id_or_reference: int | str) -> Order:
    """By id (digits) or by reference (letters); a reference shared by several orders must be an id."""
    key = str(order_id_or_reference).strip()
    if key.isdigit():
        order = client.order(int(key))
        if order is None:
            raise OrderNotFound(f"the shop has no order #{key}")
        return order
    orders = client.orders(references=[key]) if key else []
    if not orders:
        raise OrderNotFound(f"the shop has no order with reference {key!r}")
    if len(orders) > 1:
        ids = ", ".join(str(o.id) for o in sorted(orders, key=lambda o: o.id))
        raise PreviewError(f"reference {key!r} belongs to orders {ids} (one per shipment): give an id")
    return orders[0]


def shop_languages(profile: ShopProfile) -> list[str]:
    """The active languages' codes, in id order."""
    return [
        language.iso_code.lower()
        for _id, language in sorted(profile.languages.items())
        if language.active and language.iso_code
    ]


# --- which kinds, and their decisions ----------------------------------------------------------------


def states_sending(kind: str, profile: ShopProfile) -> list[int]:
    """The order states whose change sends `kind`, lowest id first (deleted states last)."""

    def deleted(state_id: int) -> bool:
        state = profile.states.get(state_id)
        return state is None or state.deleted

    ids = [state_id for state_id, sends in profile.state_kinds.items() if sends == kind]
    return sorted(ids, key=lambda state_id: (deleted(state_id), state_id))


def applicable_kinds(facts: OrderFacts, profile: ShopProfile, histories: Sequence[OrderHistory]) -> list[str]:
    """The kinds the bridge could send about this order: the confirmation, every status email some state
    of the shop sends (the bank-wire and cheque ones only when the order was paid that way or went
    through that state), and `tracking_added` once there is a tracking number."""
    visited = {h.id_order_state for h in histories if h.id_order == facts.order.id}
    kinds = [ORDER_CONFIRMATION]
    for kind in sorted(STATUS_KINDS):
        states = states_sending(kind, profile)
        if not states:
            continue
        if kind in PAYMENT_METHOD_KINDS:
            modules = {s.module_name for sid in states if (s := profile.states.get(sid)) and s.module_name}
            if not (visited & set(states)) and facts.order.module not in modules:
                continue
        kinds.append(kind)
    if facts.tracking_number and states_sending(SHIPPED, profile):
        kinds.append(TRACKING_ADDED)
    return kinds


def decision_for(
    kind: str,
    facts: OrderFacts,
    profile: ShopProfile,
    settings: RuleSettings,
    histories: Sequence[OrderHistory],
) -> Decision:
    """What `bridge.plan.rules.decide` answers for the change that would send `kind` about this order.

    A status kind is decided on a change to the state that sends it (the one the order went through,
    else the shop's first such state). `tracking_added` carries the same context as `shipped`.
    """
    order = facts.order
    if kind == ORDER_CONFIRMATION:
        change: Change = NewOrder(order=order)
    else:
        status_kind = SHIPPED if kind == TRACKING_ADDED else kind
        states = states_sending(status_kind, profile)
        if not states:
            return Decision(
                f"preview:{kind}",
                kind,
                order.id,
                order.reference,
                skip_reason=f"no order state of this shop sends {status_kind} (see STATUS_EMAILS)",
            )
        visited = [h for h in sorted(histories, key=lambda h: h.id) if h.id_order_state in states]
        state_id = visited[-1].id_order_state if visited else states[0]
        if kind == TRACKING_ADDED and not facts.tracking_number:
            return Decision(
                f"preview:{kind}",
                kind,
                order.id,
                order.reference,
                skip_reason="the order has no tracking number",
            )
        history = OrderHistory(id=0, id_order=order.id, id_order_state=state_id, id_employee=0, date_add=None)
        change = StateChanged(history=history, initial=False)
    decisions = decide([change], facts={order.id: facts}, profile=profile, settings=settings, already_sent={})
    decision = decisions[0]
    if kind == TRACKING_ADDED and decision.sends:
        return dataclasses.replace(decision, kind=kind)
    return decision


# --- rendering and writing ---------------------------------------------------------------------------


def render_decision(
    renderer: Renderer, kind: str, language: str, decision: Decision, profile: ShopProfile, now: datetime
) -> RenderedEmail:
    """The message as delivery would build it (a preview Message-ID: nothing is queued)."""
    identity = profile.identity
    message_id = f"<preview.{kind}.order-{decision.order_id}.{_slug(language)}@{identity.domain}>"
    return renderer.render(
        kind,
        language,
        decision.context,
        shop=identity,
        message_id=message_id,
        recipient=make_address(decision.recipient_name or "", decision.recipient_email),
        now=now,
        unsubscribe=SAMPLE_UNSUBSCRIBE if get_kind(kind).category == "marketing" else None,
    )


def write_preview(output_dir: Path, preview: Preview) -> tuple[Path, Path]:
    """`order-<id>-<reference>-<kind>-<lang>.html` and `.eml`; names never come from shop text unfiltered.

    They hold a real customer's name and order: 0600, in a folder made 0700 (bridge.files)."""
    order, rendered = preview.order, preview.rendered
    make_private_dir(output_dir)
    stem = "-".join(
        part
        for part in (f"order-{order.id}", _slug(order.reference), preview.kind, rendered.language_used)
        if part
    )
    html_path = output_dir / f"{stem}.html"
    eml_path = output_dir / f"{stem}.eml"
    write_private(html_path, rendered.html)
    write_private(eml_path, file_bytes(rendered.message))
    return html_path, eml_path


def preview_text(preview: Preview) -> str:
    """The email as a terminal shows it: a title line, its main headers, and its text part."""
    message, rendered = preview.rendered.message, preview.rendered
    label = preview.order.reference or str(preview.order.id)
    lines = [f"=== {preview.kind} ({rendered.language_used}) for order #{preview.order.id} {label} ==="]
    lines += [f"{name}: {message[name]}" for name in ("From", "To", "Subject") if message[name] is not None]
    return "\n".join([*lines, "", rendered.text.rstrip("\n"), ""])


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:40]
