"""Whether a customer agreed to marketing mail, and the basis the outbox records with each such email.

PrestaShop keeps two boxes on a customer: `newsletter` (ps_emailsubscription's "sign up for our
newsletter", with `newsletter_date_add`) and `optin` ("receive offers from our partners"). Which of them
count is the owner's choice (MARKETING_CONSENT). The basis is stored with every marketing email, so the
owner can show on what ground each one went out.
"""

from __future__ import annotations

from collections.abc import Iterable

from bridge.model.records import Customer


def consent_basis(customer: Customer, fields: Iterable[str]) -> str | None:
    """`"newsletter=1 since 2026-05-01T10:00:00+02:00"`, `"optin=1"`, or None without consent."""
    wanted = set(fields)
    if "newsletter" in wanted and customer.newsletter:
        since = customer.newsletter_date_add
        return "newsletter=1" + (f" since {since.isoformat()}" if since is not None else "")
    if "optin" in wanted and customer.optin:
        return "optin=1"
    return None


def no_consent_reason(customer: Customer, fields: Iterable[str]) -> str:
    shown = ", ".join(f"{name}={int(getattr(customer, name))}" for name in sorted(set(fields)))
    return f"no marketing consent ({shown}; MARKETING_CONSENT)"
