"""MQTT over TLS (docs/security.md, "Behind TLS"): a private Mosquitto with only a TLS listener, its
certificate from a CA made here with openssl.

Both of the gateway's connections to the broker speak TLS with ``[mqtt] tls = true`` and ``ca_file``: the
collector (device traffic in) and the rule publisher (grades and events out; it connected without TLS before
this test). A broker whose certificate the configured CA did not sign, and a connection without TLS, get
nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fake_ingest import FakeIngest
from services import MosquittoService, find_binary
from waiting import wait_until

from collectors.mqtt import MqttCollector, MqttConfig
from gateway.casework.publisher import MqttPublisher
from gateway.config import ConfigError, parse_config

pytestmark = pytest.mark.services


def openssl(folder: Path, *args: str) -> None:
    """Debian's openssl, run in ``folder``."""
    subprocess.run([find_binary("openssl"), *args], cwd=folder, check=True, capture_output=True)


def make_certificates(folder: Path) -> None:
    """``ca.pem``, and ``server.pem``/``server.key`` for 127.0.0.1 signed by it (a day's validity)."""

    def run(*args: str) -> None:
        openssl(folder, *args)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=firegw test CA",
        "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
        "-out", "server.csr")  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "1", "-extfile", "san.ext", "-out", "server.pem")  # fmt: skip


class TlsMosquitto(MosquittoService):
    """The test broker with a TLS listener only (``listener``, ``cafile``, ``certfile``, ``keyfile``)."""

    name = "mosquitto-tls"

    def _write_config(self) -> None:
        make_certificates(self.workdir)
        super()._write_config()
        config = self.config_path.read_text()
        files = {"cafile": "ca.pem", "certfile": "server.pem", "keyfile": "server.key"}
        tls = "".join(f"{key} {self.workdir / name}\n" for key, name in files.items())
        self.config_path.write_text(config.replace("allow_anonymous true\n", f"allow_anonymous true\n{tls}"))

    def client_context(self) -> ssl.SSLContext:
        """What a client that may connect brings: the broker's CA."""
        return ssl.create_default_context(cafile=str(self.workdir / "ca.pem"))

    def ready(self) -> bool:
        context = self.client_context()
        try:
            with (
                socket.create_connection((self.host, self.port), timeout=1) as raw,
                context.wrap_socket(raw, server_hostname=self.host) as sock,
            ):
                sock.sendall(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00")  # CONNECT, MQTT 3.1.1
                return sock.recv(4) == b"\x20\x02\x00\x00"
        except OSError:
            return False


@pytest.fixture(scope="module")
def broker() -> Iterator[TlsMosquitto]:
    service = TlsMosquitto()
    try:
        service.start()
        yield service
    finally:
        service.close()


def config(broker: TlsMosquitto, client_id: str, **tls: object) -> MqttConfig:
    """The gateway's [mqtt] for the test broker (its default subscriptions: smoke detectors among them)."""
    return MqttConfig.model_validate(
        {"host": broker.host, "port": broker.port, "client_id": client_id, **tls}
    )


@contextlib.asynccontextmanager
async def running(*runners: MqttCollector | MqttPublisher) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(r.run()) for r in runners]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_the_collector_and_the_publisher_speak_tls_to_the_broker(broker: TlsMosquitto) -> None:
    ca = str(broker.workdir / "ca.pem")
    ingest = FakeIngest("mqtt", with_topics=True)
    collector = MqttCollector(config(broker, "tls-in", tls=True, ca_file=ca), ingest)
    publisher = MqttPublisher(config(broker, "tls-out", tls=True, ca_file=ca), client_id="tls-out")
    body = {"id": "SD-0001", "seq": 1, "ts": 1763856000000, "event": "heartbeat", "battery": 90, "rsrp": -90}
    async with running(collector, publisher):
        await asyncio.wait_for(collector.wait_connected(), 10)
        publisher.event("fire/smoke/SD-0001/up", body)  # out through the publisher, in through the collector
        await wait_until(lambda: len(ingest.records) == 1, 10, "the message went round over TLS")
    assert publisher.connected
    assert not ingest.rejects
    assert ingest.records[0].device_id == "SD-0001"


@pytest.mark.parametrize(
    "tls",
    [
        pytest.param({"tls": True}, id="a broker certificate the system's CAs did not sign"),
        pytest.param({"tls": False}, id="no TLS"),
    ],
)
async def test_no_connection_without_the_brokers_ca_or_without_tls(
    broker: TlsMosquitto, tls: dict[str, object]
) -> None:
    ingest = FakeIngest("mqtt", with_topics=True)
    collector = MqttCollector(config(broker, "tls-refused", **tls), ingest)
    async with running(collector):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(collector.wait_connected(), 2)


# -- a broker that asks for the gateway's certificate ([mqtt] cert_file, key_file) ---------------------------


def make_client_certificate(folder: Path, name: str, ca: str = "ca") -> None:
    """``{name}.pem``/``{name}.key`` for a client whose common name is ``name``, signed by ``{ca}.pem``
    (a CA of that name is made first when there is none)."""

    def run(*args: str) -> None:
        openssl(folder, *args)

    if not (folder / f"{ca}.pem").exists():
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={ca}",
            "-keyout", f"{ca}.key", "-out", f"{ca}.pem")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
        "-out", f"{name}.csr")  # fmt: skip
    run("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
        "-days", "1", "-out", f"{name}.pem")  # fmt: skip


class CertMosquitto(TlsMosquitto):
    """The TLS-only broker that also asks each client for a certificate its CA signed, and takes the
    certificate's common name as the client's user name (Mosquitto ``require_certificate``,
    ``use_identity_as_username``)."""

    name = "mosquitto-certs"

    def _write_config(self) -> None:
        super()._write_config()
        make_client_certificate(self.workdir, "firegw-gw01")
        make_client_certificate(self.workdir, "firegw-gw01-rogue", ca="other-ca")
        config = self.config_path.read_text()
        self.config_path.write_text(config + "require_certificate true\nuse_identity_as_username true\n")

    def client_context(self) -> ssl.SSLContext:
        """The broker's CA and a certificate it signed."""
        context = super().client_context()
        context.load_cert_chain(self.workdir / "firegw-gw01.pem", self.workdir / "firegw-gw01.key")
        return context


@pytest.fixture(scope="module")
def cert_broker() -> Iterator[CertMosquitto]:
    service = CertMosquitto()
    try:
        service.start()
        yield service
    finally:
        service.close()


async def test_the_gateway_shows_its_certificate_to_a_broker_that_asks(cert_broker: CertMosquitto) -> None:
    folder = cert_broker.workdir
    tls = {
        "tls": True,
        "ca_file": str(folder / "ca.pem"),
        "cert_file": str(folder / "firegw-gw01.pem"),
        "key_file": str(folder / "firegw-gw01.key"),
    }
    ingest = FakeIngest("mqtt", with_topics=True)
    collector = MqttCollector(config(cert_broker, "cert-in", **tls), ingest)
    publisher = MqttPublisher(config(cert_broker, "cert-out", **tls), client_id="cert-out")
    body = {"id": "SD-0002", "seq": 1, "ts": 1763856000000, "event": "heartbeat", "battery": 90, "rsrp": -90}
    async with running(collector, publisher):
        await asyncio.wait_for(collector.wait_connected(), 10)
        publisher.event("fire/smoke/SD-0002/up", body)
        await wait_until(lambda: len(ingest.records) == 1, 10, "the message went round with certificates")
    assert ingest.records[0].device_id == "SD-0002"


@pytest.mark.parametrize(
    "client",
    [
        pytest.param(None, id="no certificate"),
        pytest.param("firegw-gw01-rogue", id="a certificate another CA signed"),
    ],
)
async def test_a_broker_that_asks_for_a_certificate_refuses_a_gateway_without_its_own(
    cert_broker: CertMosquitto, client: str | None
) -> None:
    folder = cert_broker.workdir
    tls: dict[str, object] = {"tls": True, "ca_file": str(folder / "ca.pem")}
    if client is not None:
        tls |= {"cert_file": str(folder / f"{client}.pem"), "key_file": str(folder / f"{client}.key")}
    ingest = FakeIngest("mqtt", with_topics=True)
    collector = MqttCollector(config(cert_broker, "cert-refused", **tls), ingest)
    async with running(collector):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(collector.wait_connected(), 2)


def test_certificate_settings_that_cannot_work_are_said_at_start(tmp_path: Path) -> None:
    make_client_certificate(tmp_path, "gw")
    make_client_certificate(tmp_path, "other")

    def problems(**mqtt: object) -> str:
        with pytest.raises(ConfigError) as refused:
            parse_config({"mqtt": mqtt}, source="gateway.toml", base=tmp_path)
        return str(refused.value)

    assert "mqtt.cert_file: " in problems(tls=True, cert_file="missing.pem", key_file="gw.key")
    assert "missing.pem: no such file" in problems(tls=True, cert_file="missing.pem", key_file="gw.key")
    assert "cert_file and key_file go together" in problems(tls=True, cert_file="gw.pem")
    assert "need tls = true" in problems(cert_file="gw.pem", key_file="gw.key")
    wrong_key = problems(tls=True, ca_file="ca.pem", cert_file="gw.pem", key_file="other.key")
    assert f"{tmp_path / 'gw.pem'}, {tmp_path / 'other.key'}: cannot be used" in wrong_key
    assert "not a PEM certificate" in problems(tls=True, ca_file="gw.key")
    # Relative to the configuration file's folder, like every other path in it.
    good = parse_config(
        {"mqtt": {"tls": True, "ca_file": "ca.pem", "cert_file": "gw.pem", "key_file": "gw.key"}},
        base=tmp_path,
    )
    assert good.mqtt.cert_file == str(tmp_path / "gw.pem")
    assert good.mqtt.tls_context() is not None
