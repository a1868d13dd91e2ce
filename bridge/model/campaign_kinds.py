"""The campaign kind: an owner's own email (`bridge campaign send FILE`), its context and samples.

Declared in `bridge.model.kinds` (KINDS); kept here so that module stays readable. The owner writes the
subject and the body (Markdown with a few variables: bridge.mail.owner_text) in a campaign file; each
outbox row stores the text of its language as written, and the templates render it at send time, when the
customer's values and the code are known. The customer's values are data: escaped in HTML and never read
as Markdown or as template code.

A campaign with a discount carries either a `personal_code` request (a single-use code the delivery step
creates in the shop just before the email goes: bridge.model.codes) or, for a shared code, the `code`
itself, put in the context when the row is queued. Without a discount there is neither.

No `from __future__ import annotations` here: Python 3.11 reads `NotRequired` only from evaluated
annotations, and `Kind.required_keys` (what the renderer insists on) comes from them.
"""

from typing import TYPE_CHECKING, Final, NotRequired, TypedDict

from bridge.model.codes import PersonalCode, PersonalCodeRequest
from bridge.model.samples import CUSTOMER, CUSTOMER_NO_FIRST_NAME

if TYPE_CHECKING:  # kinds.py declares these and imports this module
    from bridge.model.kinds import Customer

CAMPAIGN: Final = "campaign"
# In the daily budget, after cart reminders (5) and the other marketing kinds (6), before legal notices
# (9): a 5,000-row campaign never delays a cart reminder, and it spreads over days at the marketing share.
CAMPAIGN_PRIORITY: Final = 7


class CampaignText(TypedDict):
    """The owner's words in one language, as the campaign file has them (variables not filled in)."""

    name: str  # the campaign's name, its identity: "black-friday-2026"
    subject: str  # plain text with variables: "Prezent dla Ciebie, {{ firstname }}"
    body: str  # Markdown with variables


class CampaignContext(TypedDict):
    """Marketing: the owner's campaign, to a customer who agreed to marketing mail."""

    customer: "Customer"
    campaign: CampaignText
    # A single-use code to create just before sending (bridge.delivery.codes), which then sets `code`.
    personal_code: NotRequired[PersonalCodeRequest]
    # The code the email offers: a shared code (set when queued) or the personal one (set when sent).
    code: NotRequired[PersonalCode]
    # `bridge campaign preview`: marked as a preview, its code a sample that works nowhere.
    preview: NotRequired[bool]


# --- Samples (the shared building blocks: bridge.model.samples) ------------------------------------------

_BODY: Final = """Cześć {{ firstname }},

z okazji **Black Friday** mamy dla Ciebie prezent: **{{ discount }}** zniżki na całe zamówienie.

Użyj kodu {{ code }} do {{ valid_until }}. Kod jest tylko dla Ciebie i działa raz.

- nowe kubki z serii *Łódź*,
- wełniane skarpetki na zimę.

[Zobacz nowości]({{ shop_url }})

Zespół {{ shop_name }}"""

_CODE: PersonalCode = {
    "code": "BF2026-7KQ2M9XA",
    "percent": "10",
    "amount": None,
    "currency": "PLN",
    "minimum_amount": "100.00",
    "free_shipping": False,
    "valid_until": "2026-12-04T10:05:00+00:00",
}

CAMPAIGN_CODE: Final[CampaignContext] = {
    "customer": CUSTOMER,
    "campaign": {
        "name": "black-friday-2026",
        "subject": "Prezent dla Ciebie, {{ firstname }}",
        "body": _BODY,
    },
    "personal_code": {
        "prefix": "BF2026",
        "percent": "10",
        "amount": None,
        "valid_days": 7,
        "minimum_amount": "100.00",
        "free_shipping": False,
        "description": "campaign black-friday-2026",
        "name": "Black Friday 2026",
    },
    "code": _CODE,
}
# No discount: the owner's news alone, a customer without a first name.
CAMPAIGN_PLAIN: Final[CampaignContext] = {
    "customer": CUSTOMER_NO_FIRST_NAME,
    "campaign": {
        "name": "nowa-kolekcja",
        "subject": "Nowa kolekcja w sklepie {{ shop_name }}",
        "body": "## Nowa kolekcja\n\nDzień dobry{% if firstname %} {{ firstname }}{% endif %}!"
        " Właśnie pokazaliśmy *zimową kolekcję*.\n\n1. Kubki\n2. Misy",
    },
}
# A shared code taking off an amount, with free shipping; the preview's marks.
CAMPAIGN_SHARED: Final[CampaignContext] = {
    "customer": CUSTOMER,
    "campaign": {
        "name": "zima",
        "subject": "{{ discount }} taniej z kodem {{ code }}",
        "body": "Kod {{ code }} daje {{ discount }} zniżki od zamówienia za {{ minimum_amount }}.",
    },
    "code": {
        "code": "ZIMA2026",
        "percent": None,
        "amount": "20.00",
        "currency": "PLN",
        "minimum_amount": "150.00",
        "free_shipping": True,
        "valid_until": "2027-01-31T22:59:59+00:00",
    },
    "preview": True,
}
