"""Customer-service emails end to end: a refund's credit slip (and no second email for the same refund),
the shop's reply to a message (never an internal note) and the acknowledgement of a new message.

Real parts throughout: the simulator's demo shop over HTTP, the Gmail-like SMTP server, a SQLite store and a
ManualClock shared by the shop and the bridge.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, timedelta

from bridge.commands.explain import thread_story_lines
from bridge.model.kinds import CANCELLED, CREDIT_SLIP, MESSAGE_RECEIVED, MESSAGE_REPLY, REFUNDED
from bridge.simulator.actions import Language, PostalAddress, Shop
from bridge.simulator.demo_shop import BOWL, MUG, MUG_HONEY
from bridge.state.outbox import OutboxRow, Status, list_rows
from tests.conftest import World, html_of, text_of

WARSAW = PostalAddress("ul. Marszałkowska 10/4", "00-590", "Warszawa", phone="+48 600 700 800")
REFUNDED_STATE, CANCELLED_STATE, PAYMENT_ACCEPTED = 7, 6, 2


def order(shop: Shop, email: str = "klient@example.com", *, language: Language = "pl") -> int:
    customer = shop.register_customer("Jan", "Nowak", email, address=WARSAW, language=language)
    cart = shop.create_cart(customer.customer_id, [(MUG, 2, MUG_HONEY), (BOWL, 1)], carrier_id=2)
    order_id = shop.place_order(cart, "ps_wirepayment")
    shop.advance(7)
    return order_id


def rows(world: World, *kinds: str) -> list[OutboxRow]:
    return [r for r in list_rows(world.store, limit=1000) if r.kind in kinds]


def test_a_credit_slip_tells_the_amount_the_lines_and_how_the_money_comes_back(world: World) -> None:
    order_id = order(world.shop)
    world.sync()  # the baseline: the order and its history are not news
    mug = next(d for d in world.shop.order_details(order_id) if d["product_id"] == MUG)
    world.shop.issue_credit_slip(order_id, [(mug["id"], 1)], shipping=True)
    world.shop.advance(5)

    world.sync()

    [email] = world.mail_to("klient@example.com")
    reference = world.shop.order_ref(order_id)
    assert str(email["Subject"]).startswith("Zwrot ") and reference in str(email["Subject"])
    text = text_of(email)
    assert f"za zamówienie {reference}" in text
    assert f"{mug['product_name']}: 1 szt." in text
    assert "Koszt dostawy" in text and "Razem do zwrotu (z VAT)" in text
    assert "odeślemy przelewem" in text and "w ciągu 14 dni" in text  # a bank wire order, REFUND_DAYS
    assert mug["product_name"] in html_of(email)
    [row] = rows(world, CREDIT_SLIP)
    assert row.status is Status.SENT and row.order_id == order_id

    world.sync()  # the slip is not news twice
    assert len(world.mail_to("klient@example.com")) == 1


def test_slip_then_refunded_state_is_one_email_and_the_story_says_why(world: World) -> None:
    order_id = order(world.shop)
    world.sync()
    details = world.shop.order_details(order_id)
    world.shop.issue_credit_slip(
        order_id, [(d["id"], int(d["product_quantity"])) for d in details], shipping=True
    )
    world.shop.advance(2)
    world.shop.change_state(order_id, REFUNDED_STATE)  # seconds later, as on the recorded shop
    world.shop.advance(5)

    world.sync()

    assert [str(m["Subject"]).split(" ")[0] for m in world.mail_to("klient@example.com")] == ["Zwrot"]
    [refunded] = rows(world, REFUNDED)
    assert refunded.status is Status.SKIPPED
    assert "credit slip" in (refunded.skip_reason or "")


def test_refunded_state_first_then_a_slip_is_one_email_too(world: World) -> None:
    order_id = order(world.shop, language="en")
    world.sync()
    world.shop.change_state(order_id, REFUNDED_STATE)
    world.shop.advance(5)
    world.sync()
    details = world.shop.order_details(order_id)
    world.shop.issue_credit_slip(order_id, [(details[0]["id"], 1)])
    world.shop.advance(5)

    world.sync()

    assert [str(m["Subject"]).split(" ")[0] for m in world.mail_to("klient@example.com")] == ["Refund"]
    [slip] = rows(world, CREDIT_SLIP)
    assert slip.status is Status.SKIPPED and "Refunded email" in (slip.skip_reason or "")


def test_with_credit_slips_off_the_refunded_email_still_goes(world: World) -> None:
    settings = dataclasses.replace(world.settings, service_emails=frozenset({MESSAGE_REPLY}))
    world = dataclasses.replace(world, settings=settings)
    order_id = order(world.shop)
    world.sync()
    world.shop.issue_credit_slip(order_id, [(world.shop.order_details(order_id)[0]["id"], 1)])
    world.shop.change_state(order_id, REFUNDED_STATE)
    world.shop.advance(5)

    world.sync()

    [email] = world.mail_to("klient@example.com")
    assert "Zwrot pieniędzy za zamówienie" in str(email["Subject"])
    [slip] = rows(world, CREDIT_SLIP)
    assert slip.status is Status.SKIPPED and "SERVICE_EMAILS" in (slip.skip_reason or "")


def test_the_cancelled_email_says_whether_money_comes_back(world: World) -> None:
    paid, unpaid = order(world.shop, "zaplacil@example.com"), order(world.shop, "nie@example.com")
    world.sync()
    world.shop.change_state(paid, PAYMENT_ACCEPTED)
    world.shop.advance(5)
    world.sync()
    for order_id in (paid, unpaid):
        world.shop.change_state(order_id, CANCELLED_STATE)
    world.shop.advance(5)

    world.sync()

    [told_paid] = [m for m in world.mail_to("zaplacil@example.com") if "anulowane" in str(m["Subject"])]
    assert "tę kwotę zwrócimy" in text_of(told_paid) and "odeślemy przelewem" in text_of(told_paid)
    [told_unpaid] = world.mail_to("nie@example.com")[-1:]
    assert "nie ma czego zwracać" in text_of(told_unpaid)
    assert {r.status for r in rows(world, CANCELLED)} == {Status.SENT}


def test_a_staff_reply_is_sent_with_the_question_quoted_and_a_link_back(world: World) -> None:
    order_id = order(world.shop)
    world.sync()
    thread_id, _ = world.shop.customer_message("Czy mogę zmienić\nadres dostawy?", order_id=order_id)
    world.shop.advance(60)
    world.sync()  # the acknowledgement
    world.shop.employee_reply(thread_id, "Wewnętrznie: sprawdzić magazyn <pilne>", private=True)
    world.shop.employee_reply(thread_id, "Dzień dobry,\ntak — zmieniliśmy adres <ul. Długa 5>.")
    world.shop.advance(5)

    world.sync()

    mail = world.mail_to("klient@example.com")
    assert [str(m["Subject"]).split(" ")[0] for m in mail] == ["Otrzymaliśmy", "Odpowiedź"]
    reply = mail[-1]
    assert world.shop.order_ref(order_id) in str(reply["Subject"])
    text, html = text_of(reply).replace("\r\n", "\n"), html_of(reply)
    assert "tak — zmieniliśmy adres <ul. Długa 5>." in text
    assert "&lt;ul. Długa 5&gt;" in html and "<ul. Długa 5>" not in html
    assert "> Czy mogę zmienić\n> adres dostawy?" in text
    token = world.shop.state.get("customer_threads", thread_id)["token"]
    assert f"controller=contact&id_customer_thread={thread_id}&token={token}" in text
    for message in world.mail():  # the internal note reaches nobody
        assert "Wewnętrznie" not in text_of(message) and "sprawdzić magazyn" not in html_of(message)
    notes = [r for r in rows(world, MESSAGE_REPLY) if r.status is Status.SKIPPED]
    assert len(notes) == 1 and "internal note" in (notes[0].skip_reason or "")

    # `bridge explain thread` tells the conversation's story: the acknowledgement, the note, the answer.
    story = "\n".join(thread_story_lines(world.store, thread_id, world.clock.now().tzinfo, lambda r: "pl"))
    assert story.startswith(f"Conversation #{thread_id}: 3 email(s)")
    assert "internal note" in story and MESSAGE_RECEIVED in story and MESSAGE_REPLY in story
    assert "no email for conversation #999" in thread_story_lines(world.store, 999, UTC, lambda r: "pl")[0]


def test_a_new_message_is_acknowledged_once_per_burst_in_the_customers_language(world: World) -> None:
    world.sync()
    customer = world.shop.register_customer(
        "Anna", "Smith", "anna@example.com", address=WARSAW, language="en"
    )
    thread_id, _ = world.shop.customer_message("Do you ship to Germany?", customer_id=customer.customer_id)
    world.shop.advance(60)
    world.shop.customer_message("And to Austria?", customer_id=customer.customer_id)  # a minute later
    world.shop.advance(60)

    world.sync()

    [ack] = world.mail_to("anna@example.com")
    assert str(ack["Subject"]) == f"We received your message #{thread_id}"
    text = text_of(ack)
    assert "> Do you ship to Germany?" in text and "We will answer within 24 hours" in text
    burst = [r for r in rows(world, MESSAGE_RECEIVED) if r.status is Status.SKIPPED]
    assert len(burst) == 1 and "one acknowledgement for a burst" in (burst[0].skip_reason or "")

    world.shop.advance(timedelta(hours=2))
    world.shop.customer_message("Any news?", customer_id=customer.customer_id)  # after a quiet while
    world.shop.advance(5)
    world.sync()
    assert len(world.mail_to("anna@example.com")) == 2


def test_no_acknowledgement_for_a_checkout_comment_or_history(world: World) -> None:
    world.shop.customer_message("Before the bridge", email="stary@example.com")
    world.sync()  # the baseline: old messages are not news
    customer = world.shop.register_customer("Jan", "Kom", "kom@example.com", address=WARSAW)
    cart = world.shop.create_cart(customer.customer_id, [(BOWL, 1)], carrier_id=2)
    world.shop.place_order(cart, "ps_wirepayment", comment="Proszę zapakować na prezent.")
    world.shop.advance(7)

    world.sync()

    assert world.mail_to("stary@example.com") == []
    assert not any("wiadomość" in str(m["Subject"]) for m in world.mail_to("kom@example.com"))
    [comment] = rows(world, MESSAGE_RECEIVED)
    assert comment.status is Status.SKIPPED and "checkout comment" in (comment.skip_reason or "")
