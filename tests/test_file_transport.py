"""MAIL_TRANSPORT=file keeps `index.html` listing every message in its folder, in order: the rows it wrote
itself are kept between messages (so N messages cost N header reads, not N²), and files another run wrote
into the same folder are listed too."""

from __future__ import annotations

import re
from email.message import EmailMessage
from pathlib import Path

import pytest

from bridge.delivery import transports
from bridge.delivery.transports import FileTransport


def message(number: int) -> EmailMessage:
    built = EmailMessage()
    built["From"] = "Sklep <sklep@example.pl>"
    built["To"] = f"Klient {number} <klient.{number}@example.com>"
    built["Subject"] = f"Wiadomość numer {number}"
    built["Date"] = "Fri, 27 Nov 2026 10:00:00 +0100"
    built.set_content(f"Treść {number}")
    built.add_alternative(f"<!doctype html><p>Treść {number}</p>", subtype="html")
    return built


def send(transport: FileTransport, number: int) -> None:
    assert transport.send(message(number), envelope_from="sklep@example.pl", recipients=[]).sent


def listed(folder: Path) -> list[tuple[str, str]]:
    """(file, recipient) of each row of the index, in its order."""
    page = (folder / "index.html").read_text(encoding="utf-8")
    rows = re.findall(
        r"<tr><td>[^<]*</td><td>([^<]*)</td>.*?<td><a href=\"([^\"]+)\">\.eml</a></td></tr>", page
    )
    return [(name, recipient) for recipient, name in rows]


def test_the_index_lists_every_message_in_order_with_its_subject_and_preview(tmp_path: Path) -> None:
    folder = tmp_path / "emails"
    transport = FileTransport(folder)
    for number in range(1, 4):
        send(transport, number)

    names = sorted(p.name for p in folder.glob("*.eml"))
    assert [name for name, _ in listed(folder)] == names
    assert [recipient for _, recipient in listed(folder)] == [
        f"Klient {n} &lt;klient.{n}@example.com&gt;" for n in range(1, 4)
    ]
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert f'<a href="{names[2].removesuffix(".eml")}.html">Wiadomość numer 3</a>' in page


def test_messages_another_run_wrote_into_the_folder_are_listed_too(tmp_path: Path) -> None:
    folder = tmp_path / "emails"
    first, second = FileTransport(folder), FileTransport(folder)
    send(first, 1)
    send(second, 2)  # a later run: it finds the first run's message
    assert [r for _, r in listed(folder)] == [f"Klient {n} &lt;klient.{n}@example.com&gt;" for n in (1, 2)]

    send(first, 3)  # the first run again: the second's message appeared meanwhile
    send(first, 4)
    assert [r for _, r in listed(folder)] == [
        f"Klient {n} &lt;klient.{n}@example.com&gt;" for n in (1, 2, 3, 4)
    ]
    assert len(list(folder.glob("*.eml"))) == 4


def test_each_message_reads_only_its_own_headers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Writing N messages reads N header blocks (plus the folder's once per run), never N²."""
    reads: list[str] = []
    read_headers = transports._read_headers

    def counted(path: Path) -> EmailMessage:
        reads.append(path.name)
        return read_headers(path)

    monkeypatch.setattr(transports, "_read_headers", counted)
    folder = tmp_path / "emails"
    send(FileTransport(folder), 0)  # an earlier run's message
    reads.clear()
    transport = FileTransport(folder)
    for number in range(1, 31):
        send(transport, number)

    assert len(reads) == 31  # the earlier message once, then each new one once
    assert len(listed(folder)) == 31
