"""Helpers for the security tests: a throwaway PKI made with `openssl` at test
time (no private key is ever committed) and brokers with TLS and SASL
listeners beside the PLAINTEXT one the harness uses to see them ready.

Pki(dir) writes, each a PEM file in `dir`:
  ca.pem                 the test CA that signs everything below
  server.pem/.key        the broker (SAN localhost, 127.0.0.1); keystore.pem = both
  alice.pem/.key         a client, subject CN=alice,OU=eng,O=Sluice
  rogue-ca.pem           another CA, which the broker does not trust
  mallory.pem/.key       a client signed by the rogue CA
"""

import os
import socket
import ssl
import struct

import pytest

from sluicetest import BrokerFactory, binary, free_port, recv_exact, run

SUBJECT_ALICE = "/O=Sluice/OU=eng/CN=alice"


class Pki:
    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ca = self._ca("ca", "/CN=Sluice test CA")
        self.rogue_ca = self._ca("rogue-ca", "/CN=Rogue CA")
        self.server = self._leaf("server", "/CN=localhost", "ca",
                                 "subjectAltName=DNS:localhost,IP:127.0.0.1")
        self.alice = self._leaf("alice", SUBJECT_ALICE, "ca")
        self.mallory = self._leaf("mallory", "/CN=mallory", "rogue-ca")
        self.keystore = self.path("keystore.pem")
        self.write_keystore(self.keystore, "server")

    def path(self, name):
        return os.path.join(self.dir, name)

    def _key(self, name):
        key = self.path(f"{name}.key")
        run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", key])
        return key

    def _ca(self, name, subject):
        key = self._key(name)
        cert = self.path(f"{name}.pem")
        run(["openssl", "req", "-x509", "-new", "-key", key, "-subj", subject, "-days", "2",
             "-out", cert])
        return cert

    def _leaf(self, name, subject, ca, ext=None, serial=None):
        key = self._key(name)
        csr = self.path(f"{name}.csr")
        cert = self.path(f"{name}.pem")
        run(["openssl", "req", "-new", "-key", key, "-subj", subject, "-out", csr])
        cmd = ["openssl", "x509", "-req", "-in", csr, "-CA", self.path(f"{ca}.pem"), "-CAkey",
               self.path(f"{ca}.key"), "-days", "2", "-out", cert]
        cmd += ["-set_serial", str(serial)] if serial else ["-CAcreateserial"]
        if ext:
            extfile = self.path(f"{name}.ext")
            with open(extfile, "w") as f:
                f.write(ext + "\n")
            cmd += ["-extfile", extfile]
        run(cmd)
        return cert

    def reissue_server(self, serial):
        """A new server certificate (same names) with a known serial."""
        self._leaf("server", "/CN=localhost", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                   serial=serial)

    def write_keystore(self, dest, name):
        with open(dest + ".tmp", "w") as out:
            for part in (f"{name}.key", f"{name}.pem"):
                with open(self.path(part)) as f:
                    out.write(f.read())
        os.replace(dest + ".tmp", dest)


def listeners_overrides(broker, extra):
    """Overrides giving `broker` its PLAINTEXT listener plus one listener per
    (NAME, PROTOCOL) in `extra`; returns {NAME: port}."""
    ports = {name: free_port() for name, _ in extra}
    names = ",".join(f"{n}://127.0.0.1:{ports[n]}" for n, _ in extra)
    broker.overrides["listeners"] = (f"PLAINTEXT://127.0.0.1:{broker.port},{names},"
                                     f"CONTROLLER://{broker.controller}")
    broker.overrides["advertised.listeners"] = f"PLAINTEXT://127.0.0.1:{broker.port},{names}"
    proto = ",".join(f"{n}:{p}" for n, p in extra)
    broker.overrides["listener.security.protocol.map"] = (
        f"PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,REPLICATION:PLAINTEXT,{proto}")
    return ports


def tls_overrides(pki, client_auth="requested"):
    return {
        "ssl.keystore.location": pki.keystore,
        "ssl.truststore.location": pki.ca,
        "ssl.client.auth": client_auth,
    }


def tls_connect(port, cafile, cert=None, key=None, max_version=None, timeout=10,
                check_hostname=True):
    """A Python TLS connection to the broker (raises ssl.SSLError if refused).
    With check_hostname=False the peer's certificate is checked against
    `cafile` only, as nodes check each other's on the internal ports."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = check_hostname
    if cert:
        ctx.load_cert_chain(cert, key)
    if max_version:
        ctx.maximum_version = max_version
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname="localhost")
    except Exception:
        raw.close()
        raise


def api_versions(sock, corr=7):
    """ApiVersions v0 over an open socket (plain or TLS); returns the error code."""
    client = b"sluice-sec"
    body = struct.pack(">hhih", 18, 0, corr, len(client)) + client
    sock.sendall(struct.pack(">i", len(body)) + body)
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    resp = recv_exact(sock, size)
    got_corr, err = struct.unpack(">ih", resp[:6])
    assert got_corr == corr
    return err


def sluicectl(*args, check=True, input=None):
    return run([binary("tools", "sluicectl", "sluicectl"), *args], check=check, input=input,
               timeout=60)


def secure_broker(brokers, pki, password="alice-secret"):
    """A broker with SSL (client certificates requested), SASL_PLAINTEXT and
    SASL_SSL listeners beside PLAINTEXT, debug logging (the principal of
    every TLS and SASL session), and the SCRAM user alice; b.ports maps each
    listener to its port."""
    b = brokers(start=False)
    b.ports = listeners_overrides(b, [("SSL", "SSL"), ("SASL_PLAINTEXT", "SASL_PLAINTEXT"),
                                      ("SASL_SSL", "SASL_SSL")])
    b.overrides.update(tls_overrides(pki, "requested"))
    b.overrides["log.level"] = "debug"
    b.start()
    b.password = password
    sluicectl("user", "set-password", "alice", "--password", password, "--bootstrap-server",
              b.bootstrap)
    return b


def module_sasl_broker(tmp_path_factory, name, password, overrides):
    """For a module-scoped fixture (`yield from`): one broker with a
    SASL_PLAINTEXT listener beside PLAINTEXT (b.ports maps each listener to
    its port), `overrides` applied, and the SCRAM user alice; stopped after
    the module, any problem (such as a non-zero exit) failing it."""
    factory = BrokerFactory(tmp_path_factory.mktemp(name))
    if factory.external:
        pytest.skip("needs a sluiced process it controls")
    b = factory(start=False)
    b.ports = listeners_overrides(b, [("SASL_PLAINTEXT", "SASL_PLAINTEXT")])
    b.overrides.update(overrides)
    b.start()
    sluicectl("user", "set-password", "alice", "--password", password, "--bootstrap-server",
              b.bootstrap)
    yield b
    problems = factory.shutdown()
    assert not problems, "; ".join(problems)
