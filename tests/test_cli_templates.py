"""`bridge templates lint` and `bridge templates preview`, as an owner who edits templates runs them.

No shop and no SMTP server: these commands read only the templates (the shipped set and the owner's folder).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.mail.render import shipped_templates_dir
from bridge.model.kinds import KINDS


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("PRESTASHOP_", "SMTP_", "MAIL_", "SHOP_", "STATE_", "DATABASE_", "TEMPLATES_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env here: the demo settings, which need no configuration


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def broken_folder(tmp_path: Path) -> Path:
    """An owner's folder with a shipped email copied and then broken on line 6 (an unclosed `if`)."""
    folder = tmp_path / "my-templates"
    (folder / "pl").mkdir(parents=True)
    lines = (shipped_templates_dir() / "pl" / "shipped.txt").read_text(encoding="utf-8").splitlines()
    lines[5] = "Zamówienie {{ order.reference }} {% if %} zostało wysłane."
    (folder / "pl" / "shipped.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_lint_passes_on_the_shipped_templates(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "templates", "lint")
    assert code == 0
    assert out == f"{len(KINDS)} kinds × 2 languages rendered, no problems (the shipped templates)\n"


def test_lint_names_the_file_and_line_of_a_broken_owner_template_and_exits_65(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = broken_folder(tmp_path)
    code, out, _ = run(capsys, "templates", "lint", "--dir", str(folder))
    assert code == 65
    *problems, summary = out.strip().splitlines()
    assert problems[0].startswith(f"{folder / 'pl' / 'shipped.txt'}:6: syntax error")
    assert summary == f"{len(problems)} problem(s) in {folder} over the shipped templates"


def test_lint_checks_the_templates_dir_setting_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = broken_folder(tmp_path)
    env = tmp_path / ".env"
    env.write_text(f"TEMPLATES_DIR={folder}\n")
    code, out, _ = run(capsys, "templates", "lint")
    assert code == 65
    assert f"{folder / 'pl' / 'shipped.txt'}:6: syntax error" in out


def test_lint_flags_an_owner_file_named_after_no_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "my-templates"
    (folder / "en").mkdir(parents=True)
    (folder / "en" / "shiped.txt").write_text("typo in the name\n", encoding="utf-8")
    code, out, _ = run(capsys, "templates", "lint", "--dir", str(folder))
    assert code == 65
    assert f"{folder / 'en' / 'shiped.txt'}: no email kind is called 'shiped'" in out


def test_preview_writes_the_html_with_the_sample_order_and_prints_subject_and_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "confirmation.html"
    code, out, _ = run(
        capsys, "templates", "preview", "order_confirmation", "--language", "en", "--output", str(output)
    )
    assert code == 0
    html = output.read_text(encoding="utf-8")
    assert "XKBKNABJK" in html and html.lstrip().lower().startswith("<!doctype html")
    subject, blank, *text = out.splitlines()
    assert subject.startswith("Subject: Order confirmation") and "XKBKNABJK" in subject
    assert blank == ""
    assert "Thank you for your order" in "\n".join(text)
    assert out.endswith(f"HTML part written to {output} (open it in a browser)\n")


def test_preview_defaults_to_the_default_language_and_writes_no_file_unless_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "templates", "preview", "shipped", "--sample", "0")
    assert code == 0
    assert out.startswith("Subject: ") and "XKBKNABJK" in out
    assert "Zamówienie" in out  # Polish: the DEFAULT_LANGUAGE
    assert out.endswith("(HTML part not written: --output FILE.html writes it, to open in a browser)\n")
    assert list(tmp_path.iterdir()) == []


def test_preview_of_an_unknown_kind_or_sample_says_what_exists(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "templates", "preview", "order_confirmaton")
    assert code == 65
    assert "no email kind is called 'order_confirmaton'" in err and "order_confirmation" in err
    code, _, err = run(capsys, "templates", "preview", "order_confirmation", "--sample", "7")
    assert code == 65
    assert "order_confirmation has samples 0 to 1, not 7" in err
