"""A real IMAP server on 127.0.0.1 for the tests: Dovecot from Debian, with a throwaway configuration.

Gmail's IMAP side as far as the bridge reads it: implicit TLS (a trustme certificate), one account with a
password, an Inbox and a Sent folder flagged `\\Sent` (RFC 6154) under a localised name, as Gmail's
`[Gmail]/Wysłane` is. The mailbox is a maildir in the test's tmp folder, so a test can compare its files
before and after the bridge looked (read-only means nothing moved, no flag changed).

    with dovecot_server(tmp_path) as imap:
        imap.append("Sent", raw_bytes)                  # the test acting as Gmail
        imap.settings()                                 # IMAP_* settings pointing the bridge at it
        imap.snapshot()                                 # {maildir file name: content} for comparison

`dovecot_available()` says why not when the machine has no Dovecot (`apt-get install dovecot-imapd`);
the tests skip with that message only outside CI (CI installs it, .ci/run).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import trustme
from imapclient import IMAPClient

DOVECOT: Final = "/usr/sbin/dovecot"
USERNAME: Final = "sklep.przyklad@gmail.com"
PASSWORD: Final = "abcdwxyzefghstuv"
SENT: Final = "Wysłane"  # as Gmail names it for a Polish account: found by its \\Sent flag
START_TIMEOUT: Final = 20.0  # seconds for Dovecot to listen: generous, it usually takes well under one


def dovecot_available() -> str | None:
    """None when Dovecot can run here; else why not, for the skip message."""
    if shutil.which("dovecot") is None and not Path(DOVECOT).exists():
        return "Dovecot is not installed (apt-get install -y dovecot-imapd): the IMAP tests need it"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _config(root: Path, shared: Path, port: int, users: tuple[str, str, str], mail: tuple[int, int]) -> str:
    login_user, internal_user, auth_user = users
    return f"""
base_dir = {shared}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = yes
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_user}
first_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:{shared}/mail/%u
mail_uid = {mail[0]}
mail_gid = {mail[1]}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = home={shared}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox {SENT} {{
    auto = subscribe
    special_use = \\Sent
  }}
  mailbox Spam {{
    auto = subscribe
    special_use = \\Junk
  }}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service auth {{
  user = {auth_user}
}}
service auth-worker {{
  user = {auth_user}
}}
"""


class DovecotServer:
    """One Dovecot process over a maildir in `root`; `start()` waits until it answers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.host = "127.0.0.1"
        self.port = _free_port()
        self.username, self.password = USERNAME, PASSWORD
        self.ca = trustme.CA()
        self.ca_file = root / "ca.pem"
        self.maildir = root / "mail" / USERNAME
        self._process: subprocess.Popen[bytes] | None = None
        self.shared = root  # the folder of the sockets and the maildir

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        cert.private_key_pem.write_to_path(str(self.root / "key.pem"))
        cert.cert_chain_pems[0].write_to_path(str(self.root / "cert.pem"))
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        (self.root / "passwd").write_text(f"{USERNAME}:{{PLAIN}}{PASSWORD}\n", encoding="utf-8")
        # As root, Dovecot runs its login processes as dovenull and refuses mail access as root: the
        # sockets and the maildir go in a folder those users reach (the test's tmp folder is 0700), the
        # mail is the dovecot user's, and the password file is read by an auth process run as root.
        if os.geteuid() == 0:
            users = ("dovenull", "dovecot", "root")
            self.shared = Path(tempfile.mkdtemp(prefix="bridge-dovecot-"))
            self.shared.chmod(0o755)
            owner = pwd.getpwnam("dovecot")
            mail = (owner.pw_uid, owner.pw_gid)
            (self.shared / "mail").mkdir()
            os.chown(self.shared / "mail", *mail)
        else:
            users = (_me(), _me(), _me())
            mail = (os.getuid(), os.getgid())
            self.shared = self.root
        self.maildir = self.shared / "mail" / USERNAME
        config = self.root / "dovecot.conf"
        config.write_text(_config(self.root, self.shared, self.port, users, mail), encoding="utf-8")
        self._process = subprocess.Popen([DOVECOT, "-F", "-c", str(config)], stdin=subprocess.DEVNULL)
        self._wait_listening()
        with self.client() as imap:  # Dovecot creates the folders (auto = subscribe) as they are listed
            imap.list_folders()
            imap.select_folder(SENT, readonly=True)

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"Dovecot exited at start: {self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return
            except OSError:
                threading.Event().wait(0.05)  # Dovecot's own start-up, not a test's timing
        raise RuntimeError(f"Dovecot did not listen within {START_TIMEOUT}s: {self.log()}")

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(encoding="utf-8", errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self.shared != self.root:
            shutil.rmtree(self.shared, ignore_errors=True)

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    @contextmanager
    def client(self) -> Iterator[IMAPClient]:
        """A logged-in client of the test itself (acting as Gmail): it may write."""
        imap = IMAPClient(self.host, self.port, ssl=True, ssl_context=self.client_context(), timeout=10)
        try:
            imap.login(self.username, self.password)
            yield imap
        finally:
            imap.logout()

    def append(self, folder: str, raw: bytes, *, when: datetime | None = None) -> None:
        """Put a message into `folder` as Gmail would (the Sent copy of a send, a bounce in the Inbox)."""
        with self.client() as imap:
            imap.append(folder, raw, msg_time=when or datetime.now(UTC))

    def file_sent(self, raw: bytes) -> None:
        """What Gmail does with a message its SMTP server accepted (tests.smtp_server's `file_sent`)."""
        self.append(SENT, raw)

    def settings(self) -> dict[str, str]:
        """The IMAP settings that point the bridge at this server."""
        return {
            "IMAP": "on",
            "IMAP_HOST": f"{self.host}:{self.port}",
            "IMAP_USERNAME": self.username,
            "IMAP_PASSWORD": self.password,
            "IMAP_CA_FILE": str(self.ca_file),
        }

    @staticmethod
    def unreachable_settings() -> dict[str, str]:
        """IMAP settings naming a loopback port where nothing listens: the mailbox cannot be read."""
        return {
            "IMAP": "on",
            "IMAP_HOST": f"127.0.0.1:{_free_port()}",
            "IMAP_USERNAME": USERNAME,
            "IMAP_PASSWORD": PASSWORD,
        }

    def snapshot(self) -> dict[str, bytes]:
        """Every maildir file (its name carries its flags) with its content, and the folder state files."""
        found: dict[str, bytes] = {}
        for path in sorted(self.maildir.rglob("*")):
            if path.is_file() and "dovecot" not in path.name:
                found[str(path.relative_to(self.maildir))] = path.read_bytes()
        return found

    def __enter__(self) -> DovecotServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _me() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


@contextmanager
def dovecot_server(root: Path) -> Iterator[DovecotServer]:
    server = DovecotServer(root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
