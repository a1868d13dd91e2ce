"""Shop times have whole seconds; the bridge's clock does not (issue 14, trap 8). Baselines and cursors that
are compared with the shop's `date_add`/`date_upd` are stored cut to the second, so a cart saved in the
same second as the cart watch's baseline is after it, and is reminded.

End to end: the simulator (which stamps rows in whole seconds, as PHP's `date()` does), the Gmail-like SMTP
server, an SQLite file, the injected clock set between two seconds.
"""

from __future__ import annotations

from datetime import timedelta

from bridge.state import cursors
from bridge.state.outbox import Status
from tests.conftest import World
from tests.test_cart_reminders import H, at, customer, left_cart, marketing, reminder_mail, reminders


def test_a_cart_left_in_the_same_second_as_the_cart_baseline_is_reminded(world: World) -> None:
    shop = marketing(world).shop
    zofia = customer(shop)
    shop.advance(timedelta(milliseconds=400))  # the first sync starts 0.4 s into a second
    assert world.sync().poll.baseline
    baseline_second = world.clock.now().replace(microsecond=0)
    shop.advance(timedelta(milliseconds=300))  # still the same second
    cart = left_cart(shop, zofia)
    assert shop.state.get("carts", cart)["date_upd"] == shop.state.now_local()  # whole seconds

    at(world, world.clock.now(), H(1.1))
    [sent] = reminders(world, Status.SENT)
    assert (sent.cart_id, sent.context["step"]) == (cart, 1)
    assert len(reminder_mail(world)) == 1
    with world.store.read() as conn:
        stored = cursors.load(conn)
    assert stored.carts.baseline_at == baseline_second  # stored at the shop's precision
    assert stored.orders.baseline_at == baseline_second
    moved = stored.carts.changed_up_to
    assert moved is not None and moved.microsecond == 0  # the cursor too
