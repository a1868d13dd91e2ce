"""Unsubscribing from marketing mail: signed tokens, the List-Unsubscribe links, the store, and the endpoint
a mail provider's one-click POST (RFC 8058) and a customer's browser reach."""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import stat
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from bridge.clock import ManualClock
from bridge.errors import ConfigError
from bridge.secret import Secret
from bridge.state.store import Store, Tx, open_store
from bridge.state.unsubscribes import list_unsubscribed, resubscribe, unsubscribed
from bridge.web.unsubscribe import (
    KEY_FILE,
    LIST_UNSUBSCRIBE_POST,
    InvalidToken,
    Signer,
    UnsubscribeServer,
    choose_language,
    links,
    load_key,
    mask_email,
    token_from_mailto_subject,
    unsubscribe,
    validate_base_url,
)

KEY = bytes(range(32))
ADDRESS = "zofia.nowak@example.pl"
MASKED = "z***@example.pl"
SHOP = "Sklep Zosi"
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def signer() -> Signer:
    return Signer(KEY)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(str(tmp_path / "state" / "bridge.db")) as opened:
        yield opened


@pytest.fixture
def server(store: Store, signer: Signer, clock: ManualClock) -> Iterator[UnsubscribeServer]:
    with UnsubscribeServer(store, signer, clock, shop_name=SHOP, host="127.0.0.1", port=0) as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def link(server: UnsubscribeServer, signer: Signer, email: str = ADDRESS, language: str = "pl") -> str:
    """The link a marketing email carries, pointed at the test endpoint."""
    return links(email, base_url=server.url, mailto="sklep@example.pl", language=language, signer=signer).url


def recorded(store: Store) -> list[tuple[str, str]]:
    with store.read() as conn:
        return [(row.email, row.source) for row in list_unsubscribed(conn)]


# --- tokens ----------------------------------------------------------------------------------------------


def test_a_token_carries_the_lower_cased_address_and_verifies_back(signer: Signer) -> None:
    token = signer.token("  Zofia.Nowak@Example.PL ")
    assert signer.verify(token) == ADDRESS
    assert token == signer.token(ADDRESS), "one address, one token: the same link in every email"
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", token), "URL-safe without any escaping"
    assert len(token) < 60, "compact enough for a header line"


def test_a_token_works_for_an_address_with_non_ascii_letters(signer: Signer) -> None:
    assert signer.verify(signer.token("Łucja@Przykład.pl")) == "łucja@przykład.pl"


def test_a_changed_truncated_or_foreign_token_is_refused(signer: Signer) -> None:
    token = signer.token(ADDRESS)
    version, address, mac = token.split(".")
    other = signer.token("someone.else@example.pl").split(".")
    flipped_mac = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    forged = [
        "",
        token[:-1],
        token[:20],
        token + "A",
        f"{version}.{address}.{flipped_mac}",
        f"{version}.{other[1]}.{mac}",  # another address with this address's signature
        f"{version}.{address}.{other[2]}",
        f"2.{address}.{mac}",  # an unknown version
        f"{version}.{address}",
        f"{version}.{address}.{mac}.{mac}",
        token.replace(".", "%2E"),
        token[:-1] + "ż",
        token + "x" * 600,
        Signer(bytes(32)).token(ADDRESS),  # signed with another key
    ]
    for candidate in forged:
        with pytest.raises(InvalidToken):
            signer.verify(candidate)


def test_a_token_spelled_with_non_canonical_base64_is_refused(signer: Signer) -> None:
    token = signer.token("ab@example.pl")  # 13 bytes: the last base64 character carries unused bits
    version, address, mac = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    sibling = address[:-1] + alphabet[alphabet.index(address[-1]) + 1]
    with pytest.raises(InvalidToken):
        signer.verify(f"{version}.{sibling}.{mac}")


def test_invalid_token_is_a_value_error_for_callers_that_validate_input() -> None:
    assert issubclass(InvalidToken, ValueError)


def test_the_signer_never_shows_its_key(signer: Signer) -> None:
    assert KEY.hex() not in repr(signer) and str(KEY) not in repr(signer)
    assert "***" in repr(signer)
    with pytest.raises(TypeError):
        signer.__reduce__()


def test_a_short_key_or_a_bad_address_is_refused_up_front(signer: Signer) -> None:
    with pytest.raises(ValueError):
        Signer(b"too short")
    for address in ("", "   ", "a b@example.pl", "x@example.pl\nBcc: y@example.pl", "a" * 400 + "@x.pl"):
        with pytest.raises(ValueError):
            signer.token(address)


# --- the key -----------------------------------------------------------------------------------------------


def test_a_new_state_dir_gets_a_private_random_key_that_later_runs_reuse(tmp_path: Path) -> None:
    state = tmp_path / "state"
    key = load_key(state, None)
    path = state / KEY_FILE
    assert len(key) == 32 and path.read_bytes() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in state.iterdir()] == [KEY_FILE], "no temporary file left behind"

    token = Signer(key).token(ADDRESS)
    assert load_key(state, None) == key
    assert Signer(load_key(state, None)).verify(token) == ADDRESS, "old links still work after a restart"
    assert load_key(tmp_path / "other", None) != key


def test_a_key_file_other_users_can_read_is_a_configuration_error(tmp_path: Path) -> None:
    load_key(tmp_path, None)
    (tmp_path / KEY_FILE).chmod(0o644)
    with pytest.raises(ConfigError, match=r"chmod 600") as raised:
        load_key(tmp_path, None)
    assert str(tmp_path / KEY_FILE) in str(raised.value)


def test_a_key_file_of_the_wrong_size_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    for content in (b"", b"x" * 31, b"x" * 64):
        path.write_bytes(content)
        path.chmod(0o600)
        with pytest.raises(ConfigError, match=r"instead of 32") as raised:
            load_key(tmp_path, None)
        assert "stops working" in str(raised.value), "says what deleting the file would cost"


def test_a_key_path_that_is_a_directory_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).mkdir(mode=0o700)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_key(tmp_path, None)


def test_the_owners_secret_gives_a_32_byte_key_and_no_key_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bridge.web.unsubscribe")
    key = load_key(tmp_path, Secret("a long random owner secret 8f3a9c"))
    assert len(key) == 32
    assert key == load_key(tmp_path / "elsewhere", Secret("a long random owner secret 8f3a9c"))
    assert key != load_key(tmp_path, Secret("another long random owner secret"))
    assert not (tmp_path / KEY_FILE).exists()
    assert not caplog.records

    short = load_key(tmp_path, Secret("kot"))
    assert len(short) == 32, "a short secret still gives a full-size key"
    assert "shorter than 16" in caplog.text and "kot" not in caplog.text


def test_an_empty_secret_means_the_key_file(tmp_path: Path) -> None:
    assert load_key(tmp_path, Secret("")) == (tmp_path / KEY_FILE).read_bytes()


# --- links ------------------------------------------------------------------------------------------------


def test_links_carry_the_token_and_language_and_make_the_list_unsubscribe_header(signer: Signer) -> None:
    made = links(
        "Zofia.Nowak@example.pl",
        base_url="https://sklep.example.pl/wypisz",
        mailto="sklep@example.pl",
        language="pl",
        signer=signer,
    )
    token = signer.token(ADDRESS)
    assert made.url == f"https://sklep.example.pl/wypisz?t={token}&l=pl"
    assert made.mailto == f"mailto:sklep@example.pl?subject=unsubscribe%20{token}"
    assert made.header_value() == f"<{made.url}>, <{made.mailto}>"
    assert LIST_UNSUBSCRIBE_POST == "List-Unsubscribe=One-Click"


def test_a_base_url_with_a_query_gets_the_token_appended_with_an_ampersand(signer: Signer) -> None:
    made = links(ADDRESS, base_url="https://x.pl/u?shop=2", mailto="s@x.pl", language="en", signer=signer)
    assert made.url.startswith("https://x.pl/u?shop=2&t=")
    assert parse_qs(urlsplit(made.url).query) == {"shop": ["2"], "t": [signer.token(ADDRESS)], "l": ["en"]}


def test_the_base_url_must_be_https_except_on_loopback() -> None:
    assert validate_base_url(" https://sklep.example.pl/u ") == "https://sklep.example.pl/u"
    for local in ("http://127.0.0.1:8787/", "http://localhost:8787/u", "http://[::1]:8787/"):
        assert validate_base_url(local) == local
    refused = {
        "": "empty",
        "http://sklep.example.pl/u": "https",
        "ftp://sklep.example.pl/u": "https://",
        "https:///u": "no host",
        "https://sklep.example.pl/u#top": "fragment",
        "https://sklep.example.pl/u?t=1": "t= or l=",
        "https://sklep.example.pl:99999/u": "port",
        "https://sklep.example.pl/wypisz się": "ASCII",
    }
    for url, reason in refused.items():
        with pytest.raises(ValueError, match=reason):
            validate_base_url(url)


def test_a_base_url_with_a_password_is_refused_without_repeating_it() -> None:
    with pytest.raises(ValueError, match="user name or password") as raised:
        validate_base_url("https://admin:hunter22@sklep.example.pl/u")
    assert "hunter22" not in str(raised.value)


def test_the_token_is_found_in_the_subject_of_a_mailto_request(signer: Signer) -> None:
    token = signer.token(ADDRESS)
    for subject in (f"unsubscribe {token}", f"Re: unsubscribe {token}", f"unsubscribe%20{token}"):
        found = token_from_mailto_subject(subject)
        assert found == token and signer.verify(found) == ADDRESS
    assert token_from_mailto_subject("unsubscribe") is None
    assert token_from_mailto_subject("Pytanie o zamówienie 1042") is None


def test_addresses_are_masked_for_pages_and_logs() -> None:
    assert mask_email(ADDRESS) == MASKED
    assert mask_email("z@example.pl") == "z***@example.pl"


# --- the store --------------------------------------------------------------------------------------------


def test_an_unsubscribe_is_recorded_once_normalised_and_the_first_source_stays(
    store: Store, clock: ManualClock
) -> None:
    first = clock.now()
    with store.transaction() as conn:
        assert unsubscribe(conn, " Zofia.Nowak@Example.PL", "one-click", now=first) is True
    clock.advance(timedelta(days=1))
    with store.transaction() as conn:
        assert unsubscribe(conn, ADDRESS, "link", now=clock.now()) is False
    with store.read() as conn:
        found = unsubscribed(conn, "ZOFIA.NOWAK@example.pl")
        assert found is not None
        assert (found.email, found.source, found.created_at) == (ADDRESS, "one-click", first)
        assert unsubscribed(conn, "jan@example.pl") is None


def test_resubscribing_forgets_the_unsubscribe(store: Store, clock: ManualClock) -> None:
    with store.transaction() as conn:
        unsubscribe(conn, "b@example.pl", "cli", now=clock.now())
        unsubscribe(conn, "a@example.pl", "mailto", now=clock.advance(60))
    with store.read() as conn:
        assert [u.email for u in list_unsubscribed(conn)] == ["b@example.pl", "a@example.pl"]
    with store.transaction() as conn:
        assert resubscribe(conn, " B@Example.pl") is True
        assert resubscribe(conn, "b@example.pl") is False
    assert recorded(store) == [("a@example.pl", "mailto")]


def test_an_unknown_source_or_a_naive_time_is_refused(store: Store, clock: ManualClock) -> None:
    with store.transaction() as conn:
        with pytest.raises(ValueError, match="unknown unsubscribe source"):
            unsubscribe(conn, ADDRESS, "web", now=clock.now())  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="timezone-aware"):
            unsubscribe(conn, ADDRESS, "cli", now=datetime(2026, 11, 27, 9, 0))  # noqa: DTZ001
    assert recorded(store) == []


# --- the endpoint: RFC 8058 one-click ---------------------------------------------------------------------


def test_a_providers_one_click_post_unsubscribes_at_once(
    server: UnsubscribeServer, signer: Signer, store: Store, clock: ManualClock
) -> None:
    # What Gmail or Yahoo send: no cookies, no redirect following, nothing but the form field.
    answer = requests.post(link(server, signer), data=ONE_CLICK, allow_redirects=False, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    with store.read() as conn:
        found = unsubscribed(conn, ADDRESS)
    assert found is not None and found.source == "one-click" and found.created_at == clock.now()


def test_a_one_click_post_as_multipart_form_data_unsubscribes_too(
    server: UnsubscribeServer, signer: Signer, store: Store
) -> None:
    answer = requests.post(link(server, signer), files={"List-Unsubscribe": (None, "One-Click")}, timeout=10)
    assert answer.status_code == 200
    assert answer.request.headers["Content-Type"].startswith("multipart/form-data")
    assert recorded(store) == [(ADDRESS, "one-click")]


def test_a_one_click_post_with_a_chunked_body_is_refused_and_the_same_post_with_a_length_works(
    server: UnsubscribeServer, signer: Signer, store: Store
) -> None:
    # A body framed by Transfer-Encoding is how requests are smuggled past a proxy that reads it
    # differently; providers send these 26 bytes with a Content-Length (issue 15).
    chunked = requests.post(
        link(server, signer),
        data=iter([b"List-Unsubscribe=", b"One-Click"]),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert chunked.request.headers.get("Transfer-Encoding") == "chunked"
    assert chunked.status_code == 400
    assert chunked.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert recorded(store) == []
    assert requests.post(link(server, signer), data=ONE_CLICK, timeout=10).status_code == 200
    assert recorded(store) == [(ADDRESS, "one-click")]


def test_a_repeated_one_click_post_is_answered_and_changes_nothing(
    server: UnsubscribeServer, signer: Signer, store: Store, clock: ManualClock, http: requests.Session
) -> None:
    url = link(server, signer)
    first = clock.now()
    assert http.post(url, data=ONE_CLICK, timeout=10).status_code == 200
    clock.advance(timedelta(hours=5))
    assert http.post(url, data=ONE_CLICK, timeout=10).status_code == 200  # same kept-alive connection
    with store.read() as conn:
        found = unsubscribed(conn, ADDRESS)
    assert found is not None and found.created_at == first
    assert recorded(store) == [(ADDRESS, "one-click")]


# --- the endpoint: the page behind the visible link -------------------------------------------------------


def test_opening_the_link_shows_a_page_and_unsubscribes_nobody(
    server: UnsubscribeServer, signer: Signer, store: Store
) -> None:
    url = link(server, signer)
    page = requests.get(url, timeout=10)
    assert page.status_code == 200
    assert MASKED in page.text and ADDRESS not in page.text
    assert '<form method="post">' in page.text and 'name="confirm" value="1"' in page.text
    assert " action=" not in page.text, "the form posts back to the public URL the browser shows"
    head = requests.head(url, timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == page.headers["Content-Length"]
    assert recorded(store) == [], "link scanners and mail previews GET every link"


def test_the_pages_button_unsubscribes_and_says_order_emails_still_arrive(
    server: UnsubscribeServer, signer: Signer, store: Store, http: requests.Session
) -> None:
    url = link(server, signer, language="en")
    assert http.get(url, timeout=10).status_code == 200
    done = http.post(url, data={"confirm": "1"}, timeout=10)  # what the browser sends for the button
    assert done.status_code == 200
    assert "You are unsubscribed" in done.text
    assert f"{SHOP} will send no more reminders or offers to <strong>{MASKED}</strong>" in done.text
    assert "Emails about your orders" in done.text and "will still arrive" in done.text
    assert recorded(store) == [(ADDRESS, "link")]

    again = http.get(url, timeout=10)
    assert "already unsubscribed" in again.text and "<form" not in again.text


def test_pages_speak_polish_or_english(server: UnsubscribeServer, signer: Signer) -> None:
    polish = requests.get(link(server, signer, language="pl"), timeout=10)
    assert 'lang="pl"' in polish.text and "Wypisz mnie" in polish.text
    assert "Wiadomości o Twoich zamówieniach" in polish.text
    assert polish.headers["Content-Language"] == "pl"

    english = requests.get(link(server, signer, language="en"), timeout=10)
    assert 'lang="en"' in english.text and ">Unsubscribe</button>" in english.text

    token = signer.token(ADDRESS)
    browser_polish = requests.get(
        f"{server.url}?t={token}", headers={"Accept-Language": "pl-PL,pl;q=0.9,en;q=0.5"}, timeout=10
    )
    assert "Wypisz mnie" in browser_polish.text
    unknown = requests.get(f"{server.url}?t={token}&l=de", headers={"Accept-Language": "de-DE"}, timeout=10)
    assert ">Unsubscribe</button>" in unknown.text, "English when neither language fits"

    polish_done = requests.post(link(server, signer, language="pl"), data={"confirm": "1"}, timeout=10)
    assert "Gotowe, adres został wypisany" in polish_done.text
    assert f"{SHOP} nie będzie już wysyłać przypomnień ani ofert" in polish_done.text


def test_the_link_language_wins_over_the_browsers() -> None:
    assert choose_language("pl", "en-GB,en") == "pl"
    assert choose_language("en", "pl") == "en"
    assert choose_language(None, "en;q=0.4, pl;q=0.8") == "pl"
    assert choose_language(None, "pl;q=0, fr") == "en"
    assert choose_language("PL_pl", None) == "pl"


def test_pages_read_well_before_the_shop_name_is_known(
    store: Store, signer: Signer, clock: ManualClock
) -> None:
    with UnsubscribeServer(store, signer, clock, shop_name="") as server:
        done = requests.post(link(server, signer, language="en"), data=ONE_CLICK, timeout=10)
        assert f"We will send no more reminders or offers to <strong>{MASKED}</strong>" in done.text
        again = requests.get(link(server, signer, language="pl"), timeout=10)
        assert f"Adres <strong>{MASKED}</strong> jest już wypisany: nie trafiają" in again.text
        assert 'class="shop"' not in done.text + again.text


def test_the_shop_name_is_html_escaped(store: Store, signer: Signer, clock: ManualClock) -> None:
    hostile = '<script>alert("x")</script> & Co'
    with UnsubscribeServer(store, signer, clock, shop_name=hostile) as server:
        url = link(server, signer)
        for answer in (
            requests.get(url, timeout=10),
            requests.post(url, data={"confirm": "1"}, timeout=10),
            requests.get(server.url, timeout=10),
        ):
            assert "<script>" not in answer.text
            assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in answer.text


# --- the endpoint: refusals -------------------------------------------------------------------------------


def test_a_bad_or_missing_token_gets_a_400_page_and_records_nothing(
    server: UnsubscribeServer, signer: Signer, store: Store
) -> None:
    token = signer.token(ADDRESS)
    damaged = [
        server.url,
        f"{server.url}?l=pl",
        f"{server.url}?t=",
        f"{server.url}?t={token[:-3]}",
        f"{server.url}?t={token}x",
        f"{server.url}?t={quote(token + 'ż')}",
        f"{server.url}?t={Signer(bytes(32)).token(ADDRESS)}",
        f"{server.url}?t={token}&t={signer.token('jan@example.pl')}",
    ]
    for url in damaged:
        page = requests.get(url, timeout=10)
        assert page.status_code == 400, url
        assert ("Nothing was changed" in page.text) != ("Niczego nie zmieniono" in page.text)
        assert requests.post(url, data=ONE_CLICK, timeout=10).status_code == 400
        assert requests.post(url, data={"confirm": "1"}, timeout=10).status_code == 400
    assert recorded(store) == []


def test_a_post_that_is_neither_one_click_nor_the_button_records_nothing(
    server: UnsubscribeServer, signer: Signer, store: Store
) -> None:
    url = link(server, signer)
    for body in ({}, {"List-Unsubscribe": "Maybe"}, {"confirm": "0"}, {"anything": "One-Click"}):
        assert requests.post(url, data=body, timeout=10).status_code == 400
    assert requests.post(url, data=b"\xff\xfe", timeout=10).status_code == 400
    assert recorded(store) == []


def test_other_methods_get_405_with_allow(server: UnsubscribeServer, signer: Signer, store: Store) -> None:
    url = link(server, signer)
    for method in ("PUT", "DELETE", "PATCH", "OPTIONS", "BREW"):
        answer = requests.request(method, url, data=ONE_CLICK, timeout=10)
        assert answer.status_code == 405, method
        assert answer.headers["Allow"] == "GET, HEAD, POST"
    assert recorded(store) == []


def test_a_body_larger_than_a_few_kilobytes_gets_413(
    server: UnsubscribeServer, signer: Signer, store: Store
) -> None:
    padded = "List-Unsubscribe=One-Click&pad=" + "x" * 10_000
    answer = requests.post(
        link(server, signer),
        data=padded,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert answer.status_code == 413
    assert recorded(store) == []


def test_every_answer_carries_the_security_headers(
    server: UnsubscribeServer, signer: Signer, http: requests.Session
) -> None:
    url = link(server, signer)
    answers = [
        http.get(url, timeout=10),
        http.head(url, timeout=10),
        http.get(server.url, timeout=10),
        http.request("PUT", url, timeout=10),
        http.post(url, data=ONE_CLICK, timeout=10),
    ]
    assert [a.status_code for a in answers] == [200, 200, 400, 405, 200]
    for answer in answers:
        headers = answer.headers
        assert headers["Content-Security-Policy"].startswith("default-src 'none'; style-src 'unsafe-inline'")
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Cache-Control"] == "no-store"
        assert "noindex" in headers["X-Robots-Tag"]
        assert "Python" not in headers["Server"]
        assert "Set-Cookie" not in headers


def test_a_malformed_request_gets_the_endpoints_own_error_page(server: UnsubscribeServer) -> None:
    answer = requests.get(server.url, headers={"X-Long": "x" * 70_000}, timeout=10)
    assert answer.status_code == 431
    assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'")


# --- the endpoint: the store and the logs -----------------------------------------------------------------


def test_a_locked_store_gets_503_so_the_provider_retries(
    tmp_path: Path, signer: Signer, clock: ManualClock
) -> None:
    path = tmp_path / "bridge.db"
    with (
        open_store(str(path), busy_timeout=timedelta(milliseconds=50)) as store,
        UnsubscribeServer(store, signer, clock, shop_name=SHOP) as server,
    ):
        url = link(server, signer)
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock past the busy timeout
            answer = requests.post(url, data=ONE_CLICK, timeout=10)
            assert answer.status_code == 503
            assert answer.headers["Retry-After"].isdigit()
            assert "Spróbuj ponownie za kilka minut" in answer.text and "Niczego nie zmieniono" in answer.text
            blocker.execute("ROLLBACK")
        finally:
            blocker.close()
        assert requests.post(url, data=ONE_CLICK, timeout=10).status_code == 200
        assert recorded(store) == [(ADDRESS, "one-click")]


def test_the_after_unsubscribe_hook_shares_the_transaction(
    store: Store, signer: Signer, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bridge.web.unsubscribe")
    seen: list[str] = []

    def cancel_marketing(conn: Tx, email: str, now: datetime) -> None:
        assert unsubscribed(conn, email) is not None, "runs after the row is written, before commit"
        seen.append(email)
        if email.startswith("broken"):
            raise RuntimeError(f"cannot cancel mail for {email}")

    with UnsubscribeServer(
        store, signer, clock, shop_name=SHOP, after_unsubscribe=cancel_marketing
    ) as server:
        assert requests.post(link(server, signer), data=ONE_CLICK, timeout=10).status_code == 200
        broken = link(server, signer, email="broken@example.pl")
        assert requests.post(broken, data=ONE_CLICK, timeout=10).status_code == 500
    assert seen == [ADDRESS, "broken@example.pl"]
    assert recorded(store) == [(ADDRESS, "one-click")], "the failed hook rolled its unsubscribe back"
    assert "RuntimeError at test_unsubscribe.py" in caplog.text
    assert "broken@example.pl" not in caplog.text, "an exception's text may quote the address"


def test_logs_name_the_masked_address_and_source_never_the_token_or_address(
    server: UnsubscribeServer, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bridge.web.unsubscribe")
    url = link(server, signer)
    token = signer.token(ADDRESS)
    requests.get(url, timeout=10)
    requests.post(url, data=ONE_CLICK, timeout=10)
    requests.post(link(server, signer, email="jan.kowalski@example.pl"), data={"confirm": "1"}, timeout=10)
    requests.get(f"{server.url}?t={token}x", timeout=10)
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any(MASKED in line and "one-click" in line for line in infos)
    assert any("j***@example.pl" in line and "link" in line for line in infos)
    assert any("GET" in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)
    for secret in (token, token[2:30], ADDRESS, "jan.kowalski@example.pl"):
        assert secret not in caplog.text


def test_the_server_binds_a_free_port_and_refuses_a_busy_one(
    store: Store, signer: Signer, clock: ManualClock
) -> None:
    with UnsubscribeServer(store, signer, clock, shop_name=SHOP, port=0) as first:
        assert first.port != 0 and first.url == f"http://127.0.0.1:{first.port}/"
        with pytest.raises(ConfigError, match="UNSUBSCRIBE_LISTEN"):
            UnsubscribeServer(store, signer, clock, shop_name=SHOP, port=first.port).start()
    with pytest.raises(requests.ConnectionError):
        requests.get(first.url, timeout=10)


def test_a_key_file_made_by_the_bridge_is_owner_only_even_with_a_loose_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        load_key(tmp_path / "state", None)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "state" / KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
