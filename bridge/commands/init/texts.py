"""What `bridge init` says, in English and Polish.

One entry per message: the English text and the Polish one, with the same `{named}` fields. The error
lines of the checks themselves are the ones `bridge check` prints (English), so that the owner can search
for them; the wizard's own words around them are in the owner's language.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final, Literal

Language = Literal["en", "pl"]
LANGUAGES: Final = ("en", "pl")

APP_PASSWORDS_URL: Final = "https://myaccount.google.com/apppasswords"
SECURITY_URL: Final = "https://myaccount.google.com/security"

TEXTS: Final[Mapping[str, tuple[str, str]]] = {
    "intro": (
        "Setting up the PrestaShop mail bridge. Each answer is checked at once; Ctrl-C stops without writing"
        " anything. Enter accepts the value in [brackets].",
        "Konfiguracja mostu pocztowego PrestaShop. Każda odpowiedź jest od razu sprawdzana; Ctrl-C przerywa"
        " bez zapisywania czegokolwiek. Enter przyjmuje wartość podaną w [nawiasach].",
    ),
    "exists": (
        "{path} already exists. Replace it with the new settings?",
        "{path} już istnieje. Zastąpić go nowymi ustawieniami?",
    ),
    "kept": (
        "Nothing changed: {path} stays as it was.",
        "Nic nie zmieniono: {path} zostaje bez zmian.",
    ),
    "yes_no": ("[y/N]", "[t/N]"),
    "stopped": ("Stopped: nothing was written.", "Przerwano: niczego nie zapisano."),
    "yes_no_default_yes": ("[Y/n]", "[T/n]"),
    "keep_secret": ("Enter keeps the one typed before", "Enter zostawia poprzednio wpisany"),
    "empty": ("an answer is needed here", "tu potrzebna jest odpowiedź"),
    "problem": ("Problem: {message}", "Problem: {message}"),
    "again": ("Correct it and try again.", "Popraw i spróbuj jeszcze raz."),
    # -- step 1: the shop
    "shop_heading": ("Step 1 of 4: your shop", "Krok 1 z 4: sklep"),
    "shop_url": (
        "Shop address (like https://shop.example.com)",
        "Adres sklepu (np. https://sklep.example.pl)",
    ),
    "key_help": (
        "The webservice key: in the back office, Advanced Parameters → Webservice, switch the webservice"
        " on, Add new webservice key, Generate, and tick only GET for the resources listed in the guide"
        " (docs/guide.en.md, section 2).",
        "Klucz webservice: w panelu sklepu Zaawansowane → Webservice (Advanced Parameters → Webservice)"
        " włącz webservice, kliknij Dodaj nowy klucz, Generuj i zaznacz tylko GET przy zasobach"
        " wymienionych w przewodniku (docs/guide.pl.md, rozdział 2).",
    ),
    "shop_key": ("Webservice key (32 characters, not shown)", "Klucz webservice (32 znaki, niewidoczne)"),
    "checking_shop": ("Checking the shop…", "Sprawdzam sklep…"),
    "shop_ok": (
        "Shop: {url} (PrestaShop {version}), time zone {zone}",
        "Sklep: {url} (PrestaShop {version}), strefa czasowa {zone}",
    ),
    "shop_languages": (
        "Languages: {languages}; currencies: {currencies}",
        "Języki: {languages}; waluty: {currencies}",
    ),
    "shop_reads": (
        "The key may read the {count} resources the bridge needs.",
        "Klucz może czytać {count} zasobów potrzebnych mostowi.",
    ),
    "shop_mail": ("Shop mail: {line}", "Poczta sklepu: {line}"),
    "warning": ("Warning: {text}", "Uwaga: {text}"),
    "version_unknown": ("version not sent", "wersja nieznana"),
    # -- step 2: the account that sends
    "smtp_heading": ("Step 2 of 4: the email account that sends", "Krok 2 z 4: konto, z którego idą e-maile"),
    "smtp_username": (
        "Sending address (your Gmail or Google Workspace address)",
        "Adres nadawcy (Twój adres Gmail lub Google Workspace)",
    ),
    "smtp_server": (
        "SMTP server (host, or host:port; Gmail: smtp.gmail.com)",
        "Serwer SMTP (host albo host:port; Gmail: smtp.gmail.com)",
    ),
    "gmail_steps": (
        "Gmail needs an app password, not your account's password:\n"
        "  1. turn on 2-Step Verification: {security}\n"
        '  2. create an app password (any name, e.g. "shop bridge"): {apppasswords}\n'
        "  3. paste the 16 letters below (spaces do not matter).",
        "Gmail wymaga hasła aplikacji, a nie hasła do konta:\n"
        "  1. włącz weryfikację dwuetapową: {security}\n"
        "  2. utwórz hasło aplikacji (dowolna nazwa, np. „most sklepu”): {apppasswords}\n"
        "  3. wklej poniżej 16 liter (spacje nie mają znaczenia).",
    ),
    "smtp_password": ("Password (not shown)", "Hasło (niewidoczne)"),
    "gmail_password": ("App password (16 letters, not shown)", "Hasło aplikacji (16 liter, niewidoczne)"),
    "checking_smtp": ("Logging in to {server}…", "Loguję się do {server}…"),
    "smtp_ok": ("Logged in: {report}", "Zalogowano: {report}"),
    "bad_server": (
        "not a server name: write it like smtp.gmail.com or smtp.example.com:465",
        "to nie jest nazwa serwera: wpisz ją jak smtp.gmail.com albo smtp.example.com:465",
    ),
    # -- step 3: the test email
    "test_heading": ("Step 3 of 4: a test email", "Krok 3 z 4: e-mail testowy"),
    "test_to": (
        "Send a test email to (your own address)",
        "Wyślij e-mail testowy na adres (Twój własny)",
    ),
    "sending_test": ("Sending…", "Wysyłam…"),
    "test_sent": (
        'Sent to {to}. Look for "[TEST]" in that inbox (and in the spam folder).',
        "Wysłano na {to}. Szukaj „[TEST]” w tej skrzynce (i w folderze spamu).",
    ),
    # -- step 4: writing the settings
    "write_heading": ("Step 4 of 4: saving the settings", "Krok 4 z 4: zapis ustawień"),
    "written": (
        "Saved {path} (readable only by you). Every value in it is commented; config.example.env lists"
        " the other settings, which keep their defaults.",
        "Zapisano {path} (tylko Ty możesz go czytać). Każda wartość ma w nim komentarz; pozostałe"
        " ustawienia, wymienione w config.example.env, mają wartości domyślne.",
    ),
    "first_run": (
        "The first run only records where the shop stands and sends nothing; from then on the bridge sends"
        " what changes.",
        "Pierwsze uruchomienie tylko zapamiętuje stan sklepu i niczego nie wysyła; od tej pory most wysyła"
        " e-maile o tym, co się zmienia.",
    ),
    # -- how it runs
    "run_heading": ("How to run it", "Jak uruchomić most"),
    "run_container": (
        "This is a container. Run the bridge image with these settings:",
        "To jest kontener. Uruchom obraz mostu z tymi ustawieniami:",
    ),
    "run_systemd_ask": (
        "This machine runs systemd. Install the bridge as a service now (a system user, its settings in"
        " /etc/prestashop-mail-bridge, the unit bridge.service, started at once)?",
        "Ten komputer używa systemd. Zainstalować teraz most jako usługę (użytkownik systemowy, ustawienia"
        " w /etc/prestashop-mail-bridge, jednostka bridge.service, uruchomiona od razu)?",
    ),
    "run_systemd_done": (
        "The service runs. Watch it with:",
        "Usługa działa. Podgląd jej pracy:",
    ),
    "run_systemd_later": (
        "As root, `bridge systemd-unit` and the guide (section 7) install it as a service instead.",
        "Jako root możesz zamiast tego zainstalować usługę: `bridge systemd-unit` i przewodnik (rozdział 7).",
    ),
    "run_cron": (
        "No service manager here for the bridge: run it from cron. Add this line with `crontab -e`:",
        "Nie ma tu menedżera usług dla mostu: uruchamiaj go z crona. Dodaj tę linię przez `crontab -e`:",
    ),
    "run_cron_note": (
        "It runs `bridge sync` every 5 minutes; its log goes to {log} (the older half to {log}.1).",
        "Uruchamia `bridge sync` co 5 minut; dziennik trafia do {log} (starsza część do {log}.1).",
    ),
    "step": ("  {text}", "  {text}"),
    # -- non-interactive
    "no_terminal": (
        "bridge init asks questions: run it in a terminal, or pass --from-env (and --test-email) for a"
        " script",
        "bridge init zadaje pytania: uruchom je w terminalu albo podaj --from-env (i --test-email)"
        " w skrypcie",
    ),
}

YES: Final = frozenset({"y", "yes", "t", "tak"})
NO: Final = frozenset({"n", "no", "nie"})


def text(language: Language, key: str, **fields: object) -> str:
    english, polish = TEXTS[key]
    return (polish if language == "pl" else english).format(**fields)


def system_language(environ: Mapping[str, str] | None = None) -> Language:
    """Polish when the locale says so (LC_ALL, then LC_MESSAGES, then LANG, as gettext reads them)."""
    environ = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        if value:
            return "pl" if value.lower().startswith("pl") else "en"
    return "en"
