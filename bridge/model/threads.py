"""Customer service as the bridge reads it: threads (one per customer and order, or per contact-form
conversation) and their messages. Plain values; no thread token (it opens the conversation to anyone)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class CustomerThread:
    id: int
    id_order: int  # 0: about no order
    id_customer: int  # 0: written by someone without an account
    id_contact: int  # 0: opened by validateOrder for a checkout comment; > 0: the contact form
    email: str
    id_lang: int = 0  # the conversation's language in the shop; 0: unknown


@dataclass(frozen=True, slots=True)
class CustomerMessage:
    id: int
    id_customer_thread: int
    id_employee: int  # > 0: written by the shop's staff, not by the customer
    message: str
    private: bool  # an internal note of the staff
    date_add: datetime | None

    @property
    def from_customer(self) -> bool:
        return self.id_employee == 0 and not self.private
