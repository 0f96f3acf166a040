"""The contract between decoders, transports and the pipeline: reject reasons, ``DecodeError``, ``Decoder``
and ``Ingest``.

A decoder is pure: ``decode(topic, payload)`` returns canonical records or raises ``DecodeError`` with a
machine-readable reason. It never touches the network, the clock or storage, so it can be golden-file tested
byte for byte. Device identities it returns are the *wire* identity (topic segment, serial or IMEI); the
gateway's registry resolves them.

Which decoders exist is not decided here but in the table of ``collectors.decoders``, which imports each
decoder; this module imports none, so every decoder can import it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol

from gateway.models import Record


class RejectReason(StrEnum):
    """Why an input was rejected. Each value is a counter and a dead-letter reason."""

    MALFORMED = "malformed"  # not parseable at all (bad JSON, bad UTF-8)
    SCHEMA = "schema"  # parseable but a field is missing or of the wrong type
    OUT_OF_RANGE = "out_of_range"  # a value outside its physical range (battery 250 %, pressure -3 MPa)
    TOO_LARGE = "too_large"  # payload larger than the configured limit (checked before decoding)
    UNKNOWN_EVENT = "unknown_event"  # an event/status code this decoder (or its vendor table) does not know
    UNKNOWN_DEVICE = "unknown_device"  # decoded fine, but the device is not in the registry
    NO_DECODER = "no_decoder"  # a message on a topic no subscription maps to a decoder
    MODBUS_EXCEPTION = "modbus_exception"  # the unit answered with a Modbus exception code
    MODBUS_TIMEOUT = "modbus_timeout"  # the unit did not answer in time
    MODBUS_DISCONNECTED = "modbus_disconnected"  # the Modbus TCP gateway connection is down


class DecodeError(ValueError):
    """A payload that cannot become a record. ``reason`` is counted; ``detail`` says what to fix."""

    def __init__(self, reason: RejectReason, detail: str, device_id: str | None = None) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.device_id = device_id


class Decoder(Protocol):
    """Turns one wire message into zero or more records."""

    name: str

    def decode(self, topic: str, payload: bytes) -> list[Record]: ...


class Ingest(Protocol):
    """Where a transport hands its results: the gateway pipeline implements this.

    ``submit`` may wait (back-pressure) but never drops what it accepted. ``reject`` records and counts a bad
    input together with its raw bytes; it never raises and never blocks.
    """

    async def submit(
        self,
        records: list[Record],
        *,
        source: str,
        origins: Sequence[tuple[str, bytes]] | None = None,
    ) -> None:
        """Accept decoded records. ``origins``, when given, is parallel to ``records``: the (topic, raw
        payload) each came from, kept so that a record refused later (unknown device) is dead-lettered
        with its original bytes."""
        ...

    def reject(
        self,
        reason: RejectReason,
        detail: str,
        *,
        source: str,
        device_id: str | None = None,
        raw: bytes | None = None,
        topic: str | None = None,
    ) -> None: ...

    def committed(self) -> asyncio.Future[None]:
        """Done once everything submitted (and rejected) so far is durable: in the durable buffer or the
        store, and in the dead-letter store. A transport acknowledges its messages to their sender only
        then. It may stay pending for as long as the disk refuses writes."""
        ...
