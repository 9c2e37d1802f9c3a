"""The client's TLS options against a redis-server with TLS (certificates made with the openssl
command, as tests/harness/certs.c makes them): CA file or PEM, client certificate file or PEM,
server name, insecure."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import RedisServer, free_port

import crossredis
from crossredis import Client
from crossredis.chat import State

CONFIG = """[req]
distinguished_name = dn
prompt = no
[dn]
CN = crossredis test
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _make_certs(d: Path) -> None:
    cnf = d / "openssl.cnf"
    cnf.write_text(CONFIG)
    for name in ("ca", "other-ca", "server", "client"):
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(d / f"{name}.key"))
    for ca in ("ca", "other-ca"):
        _openssl("req", "-config", str(cnf), "-new", "-x509", "-sha256", "-days", "1", "-key", str(d / f"{ca}.key"),
                 "-subj", f"/CN=crossredis test {ca}", "-extensions", "ca_ext", "-out", str(d / f"{ca}.crt"))
    for leaf, ext, serial in (("server", "server_ext", "2"), ("client", "client_ext", "3")):
        _openssl("req", "-config", str(cnf), "-new", "-sha256", "-key", str(d / f"{leaf}.key"),
                 "-subj", f"/CN=crossredis test {leaf}", "-out", str(d / f"{leaf}.csr"))
        _openssl("x509", "-req", "-sha256", "-days", "1", "-in", str(d / f"{leaf}.csr"), "-CA", str(d / "ca.crt"),
                 "-CAkey", str(d / "ca.key"), "-set_serial", serial, "-extfile", str(cnf), "-extensions", ext,
                 "-out", str(d / f"{leaf}.crt"))


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> Iterator[tuple[RedisServer, int, Path]]:
    if shutil.which("openssl") is None:  # a failure, not a skip: scripts/bootstrap installs it
        raise RuntimeError("the openssl command is not installed")
    d = tmp_path_factory.mktemp("certs")
    _make_certs(d)
    port = free_port()
    srv = RedisServer("--tls-port", str(port), "--tls-cert-file", str(d / "server.crt"),
                      "--tls-key-file", str(d / "server.key"), "--tls-ca-cert-file", str(d / "ca.crt"),
                      "--tls-auth-clients", "yes")
    yield srv, port, d
    srv.close()


def test_tls_with_files_and_pems(tls) -> None:
    _, port, d = tls
    url = f"rediss://127.0.0.1:{port}"
    with Client(url, ca_file=str(d / "ca.crt"), cert_file=str(d / "client.crt"), key_file=str(d / "client.key")) as c:
        assert c.ping() and c.command("SET", "k", "over tls") == "OK"
    with Client(f"redis://127.0.0.1:{port}", ca_pem=(d / "ca.crt").read_text(),
                cert_pem=(d / "client.crt").read_text(), key_pem=(d / "client.key").read_text(),
                server_name="localhost") as c:  # any TLS option turns TLS on
        assert c.command("GET", "k") == b"over tls"
    with State(url, ca_file=str(d / "ca.crt"), cert_file=str(d / "client.crt"), key_file=str(d / "client.key")) as st:
        st.set("v", {"a": 1})
        assert st.get("v") == {"a": 1}


def test_tls_verification(tls) -> None:
    _, port, d = tls
    url = f"rediss://127.0.0.1:{port}"
    client_cert = {"cert_file": str(d / "client.crt"), "key_file": str(d / "client.key")}
    with pytest.raises(crossredis.TLSError):  # a CA that did not sign the server's certificate
        Client(url, ca_file=str(d / "other-ca.crt"), **client_cert)
    with pytest.raises(crossredis.TLSError):  # a name the certificate does not hold
        Client(url, ca_file=str(d / "ca.crt"), server_name="wrong.example", **client_cert)
    with Client(url, ca_file=str(d / "other-ca.crt"), insecure=True, **client_cert) as c:
        assert c.ping()
    with pytest.raises(crossredis.ConnectionError):  # the server wants a client certificate
        Client(url, ca_file=str(d / "ca.crt"))


def test_any_tls_option_means_tls_verified(tls) -> None:
    """``insecure=False`` (or any TLS option) asks for TLS, verified against the system's CAs when
    none is given: never a silent plaintext connection that sends AUTH in the clear."""
    srv, port, d = tls
    client_cert = {"cert_file": str(d / "client.crt"), "key_file": str(d / "client.key")}
    with pytest.raises(crossredis.TLSError, match="certificate verify failed"):  # our CA is not the system's
        Client(f"redis://127.0.0.1:{port}", insecure=False, **client_cert)
    with pytest.raises(crossredis.TimeoutError, match="TLS handshake"):  # a plain port: no plaintext fallback
        Client(srv.url, insecure=False, connect_timeout_ms=500, password="s3cret")
    with Client(f"redis://127.0.0.1:{port}", insecure=False, ca_file=str(d / "ca.crt"), **client_cert) as c:
        assert c.ping()


def test_chat_state_on_the_tls_cluster(topologies, request) -> None:
    """The run's TLS Cluster (TLS for clients, bus and replication; its CA from
    XR_TEST_TLS_CERTS_DIR): the sync State and 64 asyncio calls in one batch, split over the
    three masters; without the CA the client is refused."""
    import asyncio

    from conftest import _prefix_for

    from crossredis.chat import Lock, RedisStateAdapter

    url = f"rediss+cluster://{topologies.tls_cluster_nodes}"
    prefix = _prefix_for(request)
    with State(url, ca_file=topologies.ca_file, key_prefix=prefix) as st:
        lock = st.acquire_lock("t", 30000)
        assert isinstance(lock, Lock) and st.extend_lock(lock, 30000) is True
        st.set("k", {"v": "b\u00e4r"})
        assert st.get("k") == {"v": "b\u00e4r"}
        st.release_lock(lock)
        st.delete("k")
        c = st.get_client()
        assert c is not None and c.address.startswith("cluster ")

        async def run() -> None:
            a = RedisStateAdapter(client=c, key_prefix=prefix)
            await a.connect()
            locks = await asyncio.gather(*[a.acquire_lock(f"t{i}", 30000) for i in range(64)])
            assert all(isinstance(x, Lock) for x in locks) and a.batcher.exec_count == 1
            # the 64 keys are spread over the three masters: one batch went to all of them
            ranges = [(r[0], r[1], r[2][1]) for r in c.command("CLUSTER", "SLOTS")]  # (first, last, master port)
            slots = {int(c.command("CLUSTER", "KEYSLOT", f"{prefix}:lock:t{i}")) for i in range(64)}
            owners = {port for first, last, port in ranges for slot in slots if first <= slot <= last}
            assert len(owners) == 3, ranges
            await asyncio.gather(*[a.release_lock(x) for x in locks])
            assert all(c.command("EXISTS", f"{prefix}:lock:t{i}") == 0 for i in range(64))
            await a.disconnect()

        asyncio.run(run())
    with pytest.raises(crossredis.TLSError):
        Client(url, connect_timeout_ms=2000)  # the system's CAs do not know the test CA
