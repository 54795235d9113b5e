"""A private, real dovecot IMAP server for the mail tests and the ingestion benchmark.

``start_dovecot`` runs Debian's ``/usr/sbin/dovecot`` in the foreground (``-F``) as a child process, with its own
configuration, runtime directory, state, log and maildirs under one temporary directory, listening on a free
127.0.0.1 port with plaintext login and no TLS (a local test server only). Any user name logs in with
``PASSWORD`` (a static passdb; the maildir is per name, created at the first login), so each test takes a new name
and gets a fresh, empty mailbox without touching the running server.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DOVECOT = "/usr/sbin/dovecot"
DOVEADM = "/usr/bin/doveadm"
INSTALL_HINT = "apt-get install -y dovecot-imapd"
PASSWORD = "imap-test-password"

_CONFIG = """\
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
info_log_path = {base}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = {uid}
first_valid_gid = {gid}
default_login_user = {login_user}
default_internal_user = {internal_user}
mail_location = maildir:{base}/mail/%u
mail_fsync = never
mailbox_list_index = no
protocol imap {{
  mail_max_userip_connections = 1000
}}
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={base}/mail/%u
}}
# no login penalty after the wrong-password test: it would delay every later login from 127.0.0.1 by seconds
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
"""


class DovecotMissing(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accounts() -> tuple[int, int, str, str]:
    """uid/gid that own the mail files, and the unprivileged users dovecot's helper processes run as. Dovecot never
    accesses mail as root, so as root the mail belongs to Debian's ``mail`` user (``nobody`` where it is missing)
    and the helpers run as the package's own ``dovenull`` / ``dovecot``; as anybody else, that user for all."""
    uid = os.getuid()
    if uid == 0:
        for name in ("mail", "nobody"):
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                continue
            return entry.pw_uid, entry.pw_gid, "dovenull", "dovecot"
        raise RuntimeError("no 'mail' or 'nobody' user to own the test maildirs")
    name = pwd.getpwuid(uid).pw_name
    return uid, os.getgid(), name, name


class Dovecot:
    def __init__(self, base: Path, port: int, proc: subprocess.Popen):
        self.base, self.port, self.proc = base, port, proc
        self.host = "127.0.0.1"
        self._users: set[str] = set()

    def add_user(self, name: str) -> str:
        """A new mail account's name (its maildir is created by dovecot at the first login)."""
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", name) or name in self._users:
            raise ValueError(f"unsafe or reused IMAP user name {name!r}")
        self._users.add(name)
        return name

    def connect(self, user: str, password: str = PASSWORD) -> imaplib.IMAP4:
        conn = imaplib.IMAP4(self.host, self.port, timeout=30)
        conn.login(user, password)
        return conn

    def log(self) -> str:
        path = self.base / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, remove: bool = True) -> None:
        """Stop the server (its whole process group) and remove its directory."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if remove:
            shutil.rmtree(self.base, ignore_errors=True)


def start_dovecot(base: Path | None = None, timeout: float = 15.0) -> Dovecot:
    """Start a private dovecot under ``base`` (default: a new directory in the system's temporary directory, which
    the mail user can reach, unlike pytest's private one) and wait until it greets on its port. Raises
    ``DovecotMissing`` when the binary is not installed (the caller fails with ``INSTALL_HINT``)."""
    if not os.path.exists(DOVECOT):
        raise DovecotMissing(f"{DOVECOT} is missing: {INSTALL_HINT}")
    base = Path(base or tempfile.mkdtemp(prefix="portal-dovecot-")).resolve()
    for sub in ("run", "state", "mail"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    # dovecot refuses a base_dir others can write to, and its login and mail processes must reach what is inside
    os.chmod(base, 0o755)
    os.chmod(base / "run", 0o755)
    uid, gid, login_user, internal_user = _accounts()
    if os.getuid() == 0:
        os.chown(base / "mail", uid, gid)
    port = _free_port()
    config = base / "dovecot.conf"
    config.write_text(
        _CONFIG.format(
            base=base,
            port=port,
            password=PASSWORD,
            uid=uid,
            gid=gid,
            login_user=login_user,
            internal_user=internal_user,
        )
    )
    with open(base / "dovecot.stderr", "wb") as stderr:  # the child keeps its own copy
        proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True
        )
    server = Dovecot(base, port, proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                "dovecot exited: " + (base / "dovecot.stderr").read_text(errors="replace") + server.log()
            )
        try:
            with socket.create_connection((server.host, port), timeout=0.5) as s:
                s.settimeout(2)
                if s.recv(64).startswith(b"* OK"):
                    return server
        except OSError:
            time.sleep(0.02)
    server.stop()
    raise RuntimeError("dovecot did not start in time: " + server.log())


class MailboxUser:
    """One account's INBOX, driven with the standard library's imaplib (the test side; the portal polls it)."""

    def __init__(self, server: Dovecot, name: str):
        self.server, self.name = server, name
        self.password = PASSWORD
        self.folder = "INBOX"

    def _conn(self) -> imaplib.IMAP4:
        conn = self.server.connect(self.name, self.password)
        typ, _ = conn.select(self.folder)
        assert typ == "OK"
        return conn

    def append(self, raw: bytes, seen: bool = False) -> int:
        """Put ``raw`` in the INBOX (unseen unless ``seen``); returns its UID."""
        conn = self.server.connect(self.name, self.password)
        try:
            typ, data = conn.append(self.folder, "(\\Seen)" if seen else "()", None, raw)
            assert typ == "OK", data
            match = re.search(rb"APPENDUID \d+ (\d+)", data[0] or b"")
            return int(match.group(1)) if match else -1
        finally:
            conn.logout()

    def append_many(self, raws: list[bytes]) -> None:
        """Many messages over one connection (the benchmark)."""
        conn = self.server.connect(self.name, self.password)
        try:
            for raw in raws:
                typ, data = conn.append(self.folder, "()", None, raw)
                assert typ == "OK", data
        finally:
            conn.logout()

    def flags(self, uid: int) -> set[str]:
        conn = self._conn()
        try:
            typ, data = conn.uid("FETCH", str(uid), "(FLAGS)")
            assert typ == "OK", data
            text = b" ".join(d if isinstance(d, bytes) else d[0] for d in data if d).decode()
            match = re.search(r"FLAGS \(([^)]*)\)", text)
            return set(match.group(1).split()) if match else set()
        finally:
            conn.logout()

    def unseen(self) -> list[int]:
        conn = self._conn()
        try:
            typ, data = conn.uid("SEARCH", "UNSEEN")
            assert typ == "OK", data
            return [int(x) for x in (data[0] or b"").split()]
        finally:
            conn.logout()

    def uids(self) -> list[int]:
        conn = self._conn()
        try:
            typ, data = conn.uid("SEARCH", "ALL")
            assert typ == "OK", data
            return [int(x) for x in (data[0] or b"").split()]
        finally:
            conn.logout()

    def uidvalidity(self) -> int:
        conn = self.server.connect(self.name, self.password)
        try:
            typ, data = conn.status(self.folder, "(UIDVALIDITY)")
            assert typ == "OK", data
            return int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))
        finally:
            conn.logout()

    def set_uidvalidity(self, value: int) -> None:
        """Give the INBOX a new UIDVALIDITY (as a server does after its index is rebuilt): every message is listed
        again under keys the poll has never seen."""
        subprocess.run(
            [DOVEADM, "-c", str(self.server.base / "dovecot.conf"), "mailbox", "update", "-u", self.name]
            + ["--uid-validity", str(value), self.folder],
            check=True,
            capture_output=True,
        )

    def mark_unseen(self, uid: int) -> None:
        conn = self._conn()
        try:
            typ, data = conn.uid("STORE", str(uid), "-FLAGS.SILENT", "(\\Seen)")
            assert typ == "OK", data
        finally:
            conn.logout()

    def config(self) -> dict:
        """The app settings that point the poll at this mailbox."""
        return {
            "IMAP_HOST": self.server.host,
            "IMAP_PORT": self.server.port,
            "IMAP_USER": self.name,
            "IMAP_PASSWORD": self.password,
            "IMAP_FOLDER": self.folder,
            "IMAP_TLS": "none",
        }
