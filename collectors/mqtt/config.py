"""Configuration of the MQTT transport, validated once at start-up."""

from __future__ import annotations

import os
import ssl
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class MqttSubscription(BaseModel):
    """One topic filter and the decoder that understands what arrives on it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topic: str = Field(min_length=1)
    decoder: str
    qos: int = Field(default=1, ge=0, le=2)
    #: Options handed to the decoder (e.g. ``vendor`` for the CTWing code table).
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("topic")
    @classmethod
    def _valid_filter(cls, topic: str) -> str:
        for i, level in enumerate(parts := topic.split("/")):
            if "#" in level and (level != "#" or i != len(parts) - 1):
                raise ValueError(f"'#' must be a whole last level in topic filter {topic!r}")
            if "+" in level and level != "+":
                raise ValueError(f"'+' must be a whole level in topic filter {topic!r}")
        return topic


DEFAULT_SUBSCRIPTIONS = (
    MqttSubscription(topic="fire/smoke/+/up", decoder="smoke_json"),
    MqttSubscription(topic="fire/gbt45839/+/status", decoder="gbt45839_status"),
    MqttSubscription(topic="ctwing/+/push", decoder="ctwing"),
    MqttSubscription(topic="fire/hydrant/+/up", decoder="hydrant_json"),
    MqttSubscription(topic="fire/camera/+/event", decoder="camera_event"),
)


class MqttConfig(BaseModel):
    """Broker connection. ``clean_session = false`` with a fixed ``client_id`` makes the broker keep QoS 1
    messages while the gateway is restarting, so a restart loses nothing."""

    model_config = ConfigDict(extra="forbid")

    host: str = "localhost"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    client_id: str = "firegw"
    clean_session: bool = False
    keepalive_s: int = Field(default=30, ge=5)
    tls: bool = False
    ca_file: str | None = None
    #: The gateway's own certificate (PEM, its chain after it) and private key, for a broker that asks for
    #: one (Mosquitto ``require_certificate true``): both or neither, with ``tls``.
    cert_file: str | None = None
    key_file: str | None = None
    max_payload_bytes: int = Field(default=16384, ge=64)
    #: How long to wait for each SUBACK. A persistent session's backlog streams in before the SUBACKs,
    #: so this is generous; the backlog is processed meanwhile.
    subscribe_timeout_s: float = Field(default=60.0, gt=0)
    #: Reading pauses while this many received messages wait to be processed (bounds memory; the broker
    #: holds the rest), and resumes below the low watermark.
    inbox_high_watermark: int = Field(default=20_000, ge=10)
    inbox_low_watermark: int = Field(default=5_000, ge=1)
    backoff_initial_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)
    subscriptions: tuple[MqttSubscription, ...] = DEFAULT_SUBSCRIPTIONS

    @model_validator(mode="after")
    def _client_certificate_whole(self) -> MqttConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: the certificate and its private key")
        if self.cert_file is not None and not self.tls:
            raise ValueError("cert_file and key_file need tls = true (a certificate is shown over TLS only)")
        return self

    def tls_context(self) -> ssl.SSLContext | None:
        """With ``tls``: the broker's certificate checked against ``ca_file`` (the system's CAs without
        one) and its host name, and the gateway's own certificate shown where ``cert_file`` is set; the same
        for every connection the gateway makes to the broker. ``ValueError`` naming the file that cannot be
        used (missing, unreadable, not PEM, a key that is not the certificate's)."""
        if not self.tls:
            return None
        for name, path in (
            ("ca_file", self.ca_file),
            ("cert_file", self.cert_file),
            ("key_file", self.key_file),
        ):
            if path is not None and not os.path.isfile(path):
                raise ValueError(f"mqtt.{name}: {path}: no such file")
        try:
            context = ssl.create_default_context(cafile=self.ca_file)
        except ssl.SSLError as exc:
            raise ValueError(f"mqtt.ca_file: {self.ca_file}: not a PEM certificate ({exc.reason})") from None
        if self.cert_file is not None:
            try:
                context.load_cert_chain(self.cert_file, self.key_file)
            except (ssl.SSLError, OSError) as exc:
                raise ValueError(
                    f"mqtt.cert_file, mqtt.key_file: {self.cert_file}, {self.key_file}: cannot be used "
                    f"({getattr(exc, 'reason', None) or exc}); both PEM, the key unencrypted and the "
                    "certificate's own"
                ) from None
        return context
