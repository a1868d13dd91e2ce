"""A postal address in the order its country writes it: `00-916 Warszawa`, `London` / `SW1A 1AA`,
`Springfield, IL 62704`.

PrestaShop keeps each country's layout in its `address_format` table, which the webservice does not
serve; this is a small table of the layouts of the countries a Polish shop ships to most (the EU, the UK,
Norway, Switzerland, the US, Canada, Australia). Any other country gets the Polish order: street, then
postal code and city, then the country.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

# How the line after the street is written; {state} is left out when empty.
CODE_CITY: Final = "{postal_code} {city}"  # most of continental Europe, Poland first
CITY_CODE: Final = "{city} {postal_code}"  # after the city, on one line
CITY_STATE_CODE: Final = "{city}, {state} {postal_code}"  # the US, Canada, Australia
CITY_THEN_CODE: Final = "{city}\n{postal_code}"  # the UK and Ireland: the postcode on its own line
CITY_CODE_STATE: Final = "{postal_code} {city} {state}"  # Italy (CAP, town, province), Spain, Brazil

FORMATS: Final[Mapping[str, str]] = {
    **dict.fromkeys(
        ("PL", "DE", "AT", "CH", "LI", "FR", "BE", "NL", "LU", "CZ", "SK", "DK", "SE", "NO", "FI", "IS"),
        CODE_CITY,
    ),
    **dict.fromkeys(("PT", "EE", "LT", "HR", "SI", "HU", "RO", "BG", "GR", "CY", "MT"), CODE_CITY),
    **dict.fromkeys(("GB", "IE"), CITY_THEN_CODE),
    **dict.fromkeys(("US", "CA", "AU"), CITY_STATE_CODE),
    **dict.fromkeys(("IT", "ES"), CITY_CODE_STATE),
    "LV": "{city}, {postal_code}",
    "UA": CITY_CODE,
}
FALLBACK: Final = CODE_CITY


def _text(address: Mapping[str, Any], key: str) -> str:
    value = address.get(key, "")
    return value.strip() if isinstance(value, str) else ""


def postal_lines(address: Mapping[str, Any]) -> list[str]:
    """The street lines, the city line(s) in the country's order, the state where the layout has no
    place for it, and the country name. Empty lines are left out."""
    country = _text(address, "country_code").upper()
    layout = FORMATS.get(country, FALLBACK)
    values = {key: _text(address, key) for key in ("postal_code", "city", "state")}
    city_lines = [" ".join(line.format(**values).split()).strip(" ,") for line in layout.split("\n")]
    street = address.get("street", [])
    lines = [line for line in street if isinstance(line, str) and line.strip()]
    lines += [line for line in city_lines if line]
    if values["state"] and "{state}" not in layout:
        lines.append(values["state"])
    if _text(address, "country"):
        lines.append(_text(address, "country"))
    return lines
