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

pytestmark = pytest.mark.services


def make_certificates(folder: Path) -> None:
    """``ca.pem``, and ``server.pem``/``server.key`` for 127.0.0.1 signed by it (a day's validity)."""
    openssl = find_binary("openssl")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=folder, check=True, capture_output=True)

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

    def ready(self) -> bool:
        context = ssl.create_default_context(cafile=str(self.workdir / "ca.pem"))
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
