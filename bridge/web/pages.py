"""The unsubscribe endpoint's pages: Polish or English, one sentence each, every outside value escaped.

Kept apart from the HTTP handling (bridge/web/app.py) and the server (bridge/web/serving.py), so the
wording can change without touching how requests are read.
"""

from __future__ import annotations

import html
from http import HTTPStatus
from typing import Final, Literal

Language = Literal["pl", "en"]

_TEXTS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "confirm_title": "Unsubscribe from marketing emails",
        "confirm": "Stop sending reminders and offers to {address}?",
        "button": "Unsubscribe",
        "orders": "Emails about your orders, such as confirmations and shipping updates, will still arrive.",
        "already_title": "Already unsubscribed",
        "already": "{address} is already unsubscribed: {shop} sends it no reminders or offers.",
        "already_anonymous": "{address} is already unsubscribed: it gets no reminders or offers.",
        "done_title": "You are unsubscribed",
        "done": "{shop} will send no more reminders or offers to {address}.",
        "done_anonymous": "We will send no more reminders or offers to {address}.",
        "bad_title": "This link does not work",
        "bad": (
            "The unsubscribe link is incomplete or damaged. Open it again from the email, or copy the "
            "whole link. Nothing was changed."
        ),
        "unavailable_title": "Please try again",
        "unavailable": (
            "Your request could not be saved just now. Please try again in a few minutes. "
            "Nothing was changed."
        ),
        "method_title": "Not allowed",
        "method": "This address only answers the unsubscribe link and its button.",
        "too_large_title": "Request too large",
        "too_large": "The request was too large. Nothing was changed.",
        "error_title": "Something went wrong",
        "error": "Something went wrong on our side. Please try again in a few minutes. Nothing was changed.",
    },
    "pl": {
        "confirm_title": "Rezygnacja z wiadomości marketingowych",
        "confirm": "Czy przestać wysyłać przypomnienia i oferty na adres {address}?",
        "button": "Wypisz mnie",
        "orders": (
            "Wiadomości o Twoich zamówieniach, takie jak potwierdzenia i informacje o wysyłce, nadal "
            "będą przychodzić."
        ),
        "already_title": "Adres jest już wypisany",
        "already": "Adres {address} jest już wypisany: {shop} nie wysyła na niego przypomnień ani ofert.",
        "already_anonymous": (
            "Adres {address} jest już wypisany: nie trafiają na niego przypomnienia ani oferty."
        ),
        "done_title": "Gotowe, adres został wypisany",
        "done": "{shop} nie będzie już wysyłać przypomnień ani ofert na adres {address}.",
        "done_anonymous": "Nie będziemy już wysyłać przypomnień ani ofert na adres {address}.",
        "bad_title": "Ten link nie działa",
        "bad": (
            "Link do wypisania się jest niepełny lub uszkodzony. Otwórz go ponownie z wiadomości albo "
            "skopiuj w całości. Niczego nie zmieniono."
        ),
        "unavailable_title": "Spróbuj ponownie",
        "unavailable": (
            "Nie udało się teraz zapisać Twojej prośby. Spróbuj ponownie za kilka minut. "
            "Niczego nie zmieniono."
        ),
        "method_title": "Niedozwolone żądanie",
        "method": "Ten adres obsługuje tylko link do wypisania się i jego przycisk.",
        "too_large_title": "Zbyt duże żądanie",
        "too_large": "Żądanie było zbyt duże. Niczego nie zmieniono.",
        "error_title": "Coś poszło nie tak",
        "error": (
            "Coś poszło nie tak po naszej stronie. Spróbuj ponownie za kilka minut. Niczego nie zmieniono."
        ),
    },
}

_STYLE: Final = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:34rem;"
    "margin:3rem auto;padding:0 1rem;line-height:1.5;color:#222;background:#fff}"
    ".shop{color:#555;margin:0}h1{font-size:1.4rem}"
    "button{font:inherit;padding:.6rem 1.4rem;border:0;border-radius:4px;background:#1a5fb4;color:#fff;"
    "cursor:pointer}"
)


def render(
    language: Language,
    shop: str,
    page: str,
    *,
    address: str = "",
    extra: tuple[str, ...] = (),
    button: bool = False,
) -> bytes:
    """One page; every value from outside (shop name, masked address) is HTML-escaped here and only here."""
    texts = _TEXTS[language]
    values = {"shop": html.escape(shop), "address": f"<strong>{html.escape(address)}</strong>"}
    title = html.escape(texts[f"{page}_title"])
    # Without a shop name (not read from the shop yet) the sentences must not start with a blank.
    sentence = (
        texts[f"{page}_anonymous"] if not shop.strip() and f"{page}_anonymous" in texts else texts[page]
    )
    paragraphs = [sentence.format(**values)]
    paragraphs += [html.escape(texts[name]) for name in extra]
    body = "".join(f"<p>{paragraph}</p>" for paragraph in paragraphs)
    if button:
        # No action attribute: the browser posts back to the URL it shows, the public one, whatever
        # path the owner's web server forwards to this endpoint.
        body += (
            '<form method="post"><input type="hidden" name="confirm" value="1">'
            f'<button type="submit">{html.escape(texts["button"])}</button></form>'
        )
    shop_line = f'<p class="shop">{html.escape(shop)}</p>' if shop.strip() else ""
    return (
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        f"<title>{title}</title><style>{_STYLE}</style></head>"
        f"<body>{shop_line}<h1>{title}</h1>{body}</body></html>\n"
    ).encode()


def choose_language(requested: str | None, accept_language: str | None) -> Language:
    """Polish or English: the link's `l`, else the browser's Accept-Language, else English."""
    primary = (requested or "").strip().lower().replace("_", "-").split("-")[0]
    if primary in _TEXTS:
        return "pl" if primary == "pl" else "en"
    best: tuple[float, int] | None = None
    chosen: Language = "en"
    for position, item in enumerate((accept_language or "")[:1000].split(",")):
        tag, _, parameters = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in _TEXTS:
            continue
        quality = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        rank = (quality, -position)
        if best is None or rank > best:
            best, chosen = rank, ("pl" if primary == "pl" else "en")
    return chosen


SECURITY_HEADERS: Final = (
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
    ("X-Robots-Tag", "noindex, nofollow"),
)


def error_page(status: HTTPStatus) -> bytes:
    """The bare page for a request too malformed to read its language or link from (the server's own)."""
    text = html.escape(f"{status.value} {status.phrase}")
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{text}</title></head>'
        f"<body><h1>{text}</h1></body></html>\n"
    ).encode()
