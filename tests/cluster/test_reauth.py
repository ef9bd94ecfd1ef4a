"""KIP-368 re-authentication (connections.max.reauth.ms): SaslAuthenticate
answers the session lifetime; franz-go re-authenticates on its connection
and keeps producing; a client that does not re-authenticate has its
connection closed at its first request after the session expired (nothing
is served to it any more). One broker for the module."""

import os
import socket
import struct
import subprocess
import time

import pytest

from conftest import GO_DIR
from securitytest import module_sasl_broker
from sluicetest import recv_exact

PASSWORD = "alice-secret"
REAUTH_MS = 1500


@pytest.fixture(scope="module")
def reauth_broker(tmp_path_factory):
    yield from module_sasl_broker(tmp_path_factory, "reauth", PASSWORD,
                                  {"connections.max.reauth.ms": str(REAUTH_MS),
                                   "log.level": "debug"})


def request(s, api_key, version, corr, body):
    head = struct.pack(">hhih", api_key, version, corr, 4) + b"test"
    s.sendall(struct.pack(">i", len(head) + len(body)) + head + body)
    (size,) = struct.unpack(">i", recv_exact(s, 4))
    data = recv_exact(s, size)
    assert struct.unpack(">i", data[:4])[0] == corr
    return data[4:]


def authenticate_plain(s):
    """SaslHandshake v1 + SaslAuthenticate v1 (PLAIN): session_lifetime_ms."""
    mech = b"PLAIN"
    body = request(s, 17, 1, 1, struct.pack(">h", len(mech)) + mech)
    assert struct.unpack(">h", body[:2])[0] == 0
    token = b"\0alice\0" + PASSWORD.encode()
    body = request(s, 36, 1, 2, struct.pack(">i", len(token)) + token)
    error, msg_len = struct.unpack(">hh", body[:4])
    assert error == 0, body
    at = 4 + max(msg_len, 0)
    (auth_len,) = struct.unpack(">i", body[at:at + 4])
    at += 4 + max(auth_len, 0)
    (lifetime,) = struct.unpack(">q", body[at:at + 8])
    return lifetime


def test_session_lifetime_and_expired_connection_closed(reauth_broker):
    b = reauth_broker
    with socket.create_connection(("127.0.0.1", b.ports["SASL_PLAINTEXT"]), timeout=10) as s:
        assert authenticate_plain(s) == REAUTH_MS
        assert struct.unpack(">h", request(s, 18, 0, 3, b"")[:2])[0] == 0  # served
        # This client never re-authenticates: once the session has expired
        # its next request closes the connection.
        deadline = time.monotonic() + 60
        corr = 4
        closed = False
        while not closed:
            assert time.monotonic() < deadline, "still served long after the session expired"
            try:
                request(s, 18, 0, corr, b"")
                corr += 1
                time.sleep(0.2)
            except (ConnectionError, AssertionError, struct.error, OSError):
                closed = True
    assert "after the SASL session expired without re-authentication" in b.log_text()


def test_franz_go_reauthenticates(reauth_broker, franz_test_binary):
    b = reauth_broker
    env = dict(os.environ, SLUICE_BOOTSTRAP=f"127.0.0.1:{b.ports['SASL_PLAINTEXT']}",
               SLUICE_SASL_USER="alice", SLUICE_SASL_PASSWORD=PASSWORD,
               SLUICE_BROKER_LOG=b.log_paths[0])
    p = subprocess.run([franz_test_binary, "-test.v", "-test.count=1", "-test.timeout=120s",
                        "-test.run", "^TestFranzReauthenticates$"], cwd=GO_DIR, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=180)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0 and "--- PASS: TestFranzReauthenticates" in out, out[-6000:]
