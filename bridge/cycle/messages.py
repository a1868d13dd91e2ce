"""One poll's reads of customers' messages, shared by the owner's watch (bridge.cycle.owner) and the
conversation pass (bridge.cycle.service).

Both passes follow customer_messages with an id cursor of their own, and both need the threads of what is
new. Read separately, an idle poll asked the shop twice for the messages past a cursor, and a poll with a
new message read its thread, the thread's messages, the writer's account, the order's reference and the
shop profile twice. `PollMessages` is built once per poll (bridge.cycle.Cycle.poll) and reads each of them
once, when a pass first needs it:

- the messages past the *lower* of the two cursors (read from the store when the first pass asks: a watch
  turned off has forgotten its cursor by then), in one request when nothing was written; each pass gets
  what its own read would have found: the rows after its own read-from id, fresh for its own cursor;
- the threads of every message a pass has yet to process, with their messages, the accounts and the
  orders' references, in one go, the first time a pass asks for any of them.

Each pass keeps its baseline, cursor, planning and error handling. A read that fails raises in every pass
that needs it in this poll (each logs it and keeps its cursor) and is tried again next poll, so neither
pass loses a message to a failure, its own or the other's. Only the thread's token is not shared: the
conversation pass alone reads it (bridge.shop.threads.thread_tokens).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bridge.config import Settings
from bridge.errors import ShopError
from bridge.model.cursors import IdCursor
from bridge.model.profile import ShopProfile
from bridge.model.records import Customer
from bridge.model.threads import CustomerMessage, CustomerThread
from bridge.plan import orders as orders_plan
from bridge.shop.client import ShopClient
from bridge.shop.profile import load_profile
from bridge.shop.threads import messages_after, messages_of_threads, order_references, threads
from bridge.state import owner as owner_state
from bridge.state import service as service_state
from bridge.state.store import Store


@dataclass(frozen=True)
class ThreadFacts:
    """Threads as the passes read them: each with its messages (oldest first), the accounts of the
    threads' customers and the references of their orders. A thread the shop did not return is absent."""

    threads: Mapping[int, CustomerThread] = field(default_factory=dict)
    messages: Mapping[int, tuple[CustomerMessage, ...]] = field(default_factory=dict)
    people: Mapping[int, Customer] = field(default_factory=dict)
    references: Mapping[int, str] = field(default_factory=dict)

    def only(self, thread_ids: Iterable[int]) -> ThreadFacts:
        """These threads alone (with their accounts and references)."""
        found = {i: self.threads[i] for i in thread_ids if i in self.threads}
        return ThreadFacts(
            found,
            {i: self.messages.get(i, ()) for i in found},
            {
                t.id_customer: self.people[t.id_customer]
                for t in found.values()
                if t.id_customer in self.people
            },
            {
                t.id_order: self.references[t.id_order]
                for t in found.values()
                if t.id_order in self.references
            },
        )


class PollMessages:
    """What the passes over customers' messages read in one poll, each read once (see the module)."""

    def __init__(self, client: ShopClient, store: Store, settings: Settings) -> None:
        self.client, self.store, self.settings = client, store, settings
        self._after: int | None = None  # the id the shared read started after; None: not read yet
        self._rows: list[CustomerMessage] = []
        self._cursors: list[IdCursor] | None = None  # the passes' cursors when the first one asked
        self._wanted: set[int] = set()  # threads of messages some pass has yet to process
        self._facts = ThreadFacts()
        self._loaded: set[int] = set()  # thread ids asked of the shop (found or not)
        self._profile: ShopProfile | None = None
        self._failed: ShopError | None = None  # a failed read: every later ask in this poll fails alike

    def since(self, cursor: IdCursor) -> list[CustomerMessage]:
        """The messages past `cursor`, or in its overlap and not processed yet: exactly what the pass's
        own read would have found, from the poll's one read."""
        start = orders_plan.read_from(cursor)
        if self._after is None or start < self._after:
            self._read(min([start, *(orders_plan.read_from(c) for c in self._pass_cursors())]))
        new = self._past(cursor)
        self._wanted.update(m.id_customer_thread for m in new)
        return new

    def threads(self, messages: Iterable[CustomerMessage]) -> ThreadFacts:
        """The threads of `messages`; the first call reads those of every message a pass has yet to
        process with them, so the other pass finds its threads read already."""
        asked = {m.id_customer_thread for m in messages}
        missing = (asked | self._wanted) - self._loaded
        if missing:
            self._load(missing)
        return self._facts.only(asked)

    def profile(self, given: ShopProfile | None) -> ShopProfile:
        """The shop profile: the order pass's when it read one, else read once for both passes."""
        if given is not None:
            return given
        if self._profile is None:
            self._profile = load_profile(self.client, self.settings)
        return self._profile

    def _pass_cursors(self) -> list[IdCursor]:
        """The cursors of the passes that follow the messages, as the store has them now."""
        if self._cursors is None:
            with self.store.read() as conn:
                found = [
                    owner_state.message_cursor(conn),
                    service_state.load_cursor(conn, service_state.MESSAGES),
                ]
            self._cursors = [c for c in found if c is not None]
        return self._cursors

    def _read(self, after: int) -> None:
        if self._failed is not None:
            raise self._failed
        try:
            self._rows = messages_after(self.client, after)
        except ShopError as error:
            self._failed = error
            raise
        self._after = after
        for cursor in self._pass_cursors():
            self._wanted.update(m.id_customer_thread for m in self._past(cursor))

    def _past(self, cursor: IdCursor) -> list[CustomerMessage]:
        """Of the rows read, those the cursor's own read would have found and it has yet to process: after
        its read-from id (a row further back is behind its overlap, so not in its `done`), then fresh."""
        start = orders_plan.read_from(cursor)
        return orders_plan.fresh([m for m in self._rows if m.id > start], cursor)

    def _load(self, thread_ids: set[int]) -> None:
        """The threads, their messages, the accounts and the orders' references: one batched read each."""
        if self._failed is not None:
            raise self._failed
        facts = self._facts
        try:
            found = {t.id: t for t in threads(self.client, thread_ids)}
            messages: dict[int, list[CustomerMessage]] = {}
            for message in messages_of_threads(self.client, found) if found else []:
                messages.setdefault(message.id_customer_thread, []).append(message)
            accounts = {t.id_customer for t in found.values() if t.id_customer} - set(facts.people)
            people = self.client.customers(accounts) if accounts else []
            orders = {t.id_order for t in found.values() if t.id_order} - set(facts.references)
            references = order_references(self.client, orders) if orders else {}
        except ShopError as error:
            self._failed = error
            raise
        self._facts = ThreadFacts(
            {**facts.threads, **found},
            {**facts.messages, **{i: tuple(sorted(messages.get(i, []), key=lambda m: m.id)) for i in found}},
            {**facts.people, **{c.id: c for c in people}},
            {**facts.references, **references},
        )
        self._loaded |= thread_ids
