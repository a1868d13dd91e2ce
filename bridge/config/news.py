"""The new-product digest: whether it goes (daily or weekly), when, and how many products it lists.

Off by default. It is marketing mail, so it needs UNSUBSCRIBE_URL like every marketing email (without it
nothing is sent, and the settings say so as a warning).
"""

from __future__ import annotations

from typing import Final, Literal, TypedDict, cast

from bridge.config.marketing import UNSUBSCRIBE_URL
from bridge.config.parse import Invalid, parse_choice, parse_int
from bridge.config.reader import Reader, Setting

WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_weekday(raw: str) -> int:
    """`monday`…`sunday` (or their first three letters), any case; Monday is 0, as `date.weekday()`."""
    word = raw.strip().lower()
    for number, day in enumerate(WEEKDAYS):
        if word in (day, day[:3]):
            return number
    raise Invalid(f"must be a day of the week: {', '.join(WEEKDAYS)}")


NEW_PRODUCTS = Setting(
    "NEW_PRODUCTS",
    "off",
    parse_choice("off", "daily", "weekly"),
    "New-product news to newsletter subscribers: off, daily or weekly. One email lists the products that"
    " went on sale since the last one; none when nothing is new. Needs UNSUBSCRIBE_URL.",
)
NEW_PRODUCTS_HOUR = Setting(
    "NEW_PRODUCTS_HOUR",
    "10",
    parse_int(0, 23),
    "The hour (0-23, the shop's time zone) the new-product email goes out.",
)
NEW_PRODUCTS_WEEKDAY = Setting(
    "NEW_PRODUCTS_WEEKDAY",
    "monday",
    parse_weekday,
    "NEW_PRODUCTS=weekly: the day of the week it goes out (monday … sunday).",
)
NEW_PRODUCTS_LIMIT = Setting(
    "NEW_PRODUCTS_LIMIT",
    "12",
    parse_int(1, 50),
    "The most products one email lists; more new products are counted, with a link to the shop's"
    " new-products page.",
)
NEWS_SETTINGS: Final = (NEW_PRODUCTS, NEW_PRODUCTS_HOUR, NEW_PRODUCTS_WEEKDAY, NEW_PRODUCTS_LIMIT)


class NewsFields(TypedDict):
    new_products: Literal["off", "daily", "weekly"]
    new_products_hour: int
    new_products_weekday: int  # 0 = Monday
    new_products_limit: int


def check_news(reader: Reader) -> None:
    """A digest without an unsubscribe address cannot go: say so, without stopping the order emails."""
    if reader.read(NEW_PRODUCTS) in ("daily", "weekly") and not reader.read(UNSUBSCRIBE_URL):
        reader.warn(
            "NEW_PRODUCTS is on but UNSUBSCRIBE_URL is empty: no new-product email is sent until you set"
            " UNSUBSCRIBE_URL (every marketing email carries an unsubscribe link)"
        )


def news_fields(reader: Reader) -> NewsFields:
    """Asked once there is no problem."""
    return NewsFields(
        new_products=cast(Literal["off", "daily", "weekly"], reader.value(NEW_PRODUCTS)),
        new_products_hour=reader.value(NEW_PRODUCTS_HOUR),
        new_products_weekday=reader.value(NEW_PRODUCTS_WEEKDAY),
        new_products_limit=reader.value(NEW_PRODUCTS_LIMIT),
    )
