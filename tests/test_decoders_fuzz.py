"""Whatever arrives, nothing raises: property-based tests (hypothesis) of every path wire input takes.

``tests/test_decoders_golden.py`` holds each MQTT decoder alone to its contract (records or a
``DecodeError``). Here the same inputs go the whole way, and the other decoders of the gateway get theirs:

- **MQTT messages through the collector and the pipeline** (``MqttCollector.decode_batch`` then
  ``Pipeline.submit``, with the gateway's default subscriptions and every decoder): any topic, any bytes
  (random, golden payloads cut, flipped or with a field replaced, oversized) -> each message is one point
  in the sink (which encodes it as line protocol) or one dead letter with a reason and a detail, never an
  exception; and every untouched valid message is stored.
- **MQTT framing** (``split_packets``): any byte stream -> whole packets, or ``ValueError`` (the connection
  is dropped); PUBLISH packets behind garbage-free framing come back byte for byte.
- **The durable buffer's segments** (``next_valid_frame``, ``valid_frame``): any records, then bytes
  overwritten or the file cut short -> only whole records that pass their CRC are read back.
- **Modbus registers** (``decode_registers`` and ``out_of_range``, every built-in map): any 16-bit words ->
  metrics and a list of problems; a block of the wrong size -> ``ValueError``.
- **The device CSV** (``firegw registry import``): any text -> a registry or a ``RegistryError``; a good
  file with one cell broken -> exactly that line named.

Examples per property: 300 (the CSV 200), about a second each; ``database=None`` keeps the checkout clean.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.base import RejectReason
from collectors.modbus.registers import builtin_maps, decode_registers, load_register_map, out_of_range
from collectors.mqtt.config import MqttConfig
from collectors.mqtt.fastclient import Delivery, split_packets
from collectors.mqtt.transport import MqttCollector
from gateway.ingest.deadletter import DeadLetterStore
from gateway.ingest.pipeline import Pipeline
from gateway.ingest.registry import Registry, RegistryError, load_registry
from gateway.ingest.registry_csv import CSV_COLUMNS
from gateway.ingest.sinks.base import Point, already_committed
from gateway.ingest.sinks.frames import FRAME, crc, next_valid_frame, valid_frame
from gateway.ingest.sinks.lineprotocol import encode_point
from gateway.models import Reading, utc_now
from simulators.fleet import generate_fleet

GOLDEN = Path(__file__).parent / "golden"
FUZZ = settings(
    database=None,
    deadline=None,
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
CSV_FUZZ = settings(FUZZ, max_examples=200)

# -- MQTT messages, collector to sink ----------------------------------------------------------------------

REGISTRY = generate_fleet(
    estates=1, smoke_per_estate=4, hydrants_per_estate=2, cameras_per_estate=2, modbus_share=0.0, seed=5
)
#: The wire identity each device sends (IMEI for the carrier envelope), and its topic's level.
WIRE_IDS = [d.imei or d.id for d in REGISTRY.devices]
#: Per decoder: its topic (``{}`` for the device's level) and the key its payload names the device by.
FORMATS = {
    "smoke_json": ("fire/smoke/{}/up", "id"),
    "hydrant_json": ("fire/hydrant/{}/up", "id"),
    "camera_event": ("fire/camera/{}/event", "id"),
    "gbt45839_status": ("fire/gbt45839/{}/status", "serial"),
    "ctwing": ("ctwing/{}/push", "IMEI"),
}


def _valid_payloads() -> list[tuple[str, dict[str, Any]]]:
    """(decoder, payload) of every golden case the decoder accepts with its default options."""
    found = []
    for folder in sorted(GOLDEN.glob("*/*")):
        if folder.parent.name not in FORMATS or (folder / "options.json").exists():
            continue
        expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
        if "records" in expected:
            found.append((folder.parent.name, json.loads((folder / "payload.json").read_bytes())))
    return found


VALID = _valid_payloads()


def _addressed(decoder: str, payload: dict[str, Any], device: int) -> tuple[str, bytes]:
    """A golden payload sent by a registered device: its id in the payload, and the topic's level right."""
    topic, key = FORMATS[decoder]
    wire_id = WIRE_IDS[device % len(WIRE_IDS)]
    body = dict(payload, **{key: wire_id})
    level = wire_id
    if decoder == "gbt45839_status":
        level = str(payload.get("company", "x"))
    elif decoder == "ctwing":
        level = str(payload.get("productId", "15012345"))
    return topic.format(level), json.dumps(body, ensure_ascii=False).encode()


_JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)


@st.composite
def messages(draw: st.DrawFn) -> tuple[str, bytes, bool]:
    """(topic, payload, pristine): a valid message of a registered device, or one broken in some way."""
    decoder, payload = draw(st.sampled_from(VALID))
    topic, body = _addressed(decoder, payload, draw(st.integers(0, 50)))
    how = draw(st.sampled_from(["pristine", "cut", "flip", "field", "bytes", "topic", "huge", "nested"]))
    if how == "cut":
        body = body[: draw(st.integers(0, max(0, len(body) - 1)))]
    elif how == "flip":
        at = draw(st.integers(0, len(body) - 1))
        body = body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1 :]
    elif how == "field":
        obj = json.loads(body)
        key = draw(st.sampled_from(sorted(obj)))
        obj[key] = draw(_JSON_SCALARS | st.lists(_JSON_SCALARS, max_size=3))
        body = json.dumps(obj).encode()
    elif how == "bytes":
        body = draw(st.binary(max_size=200))
    elif how == "topic":
        topic = draw(st.sampled_from(["", "fire", "fire/smoke", "other/x/y"]) | st.text(max_size=30))
    elif how == "huge":
        body = body[:-1] + b', "pad": "' + b"x" * draw(st.integers(16 * 1024, 40 * 1024)) + b'"}'
    elif how == "nested":
        body = b'{"id": ' + b"[" * draw(st.integers(100, 5000)) + b"}"
    return topic, body, how == "pristine"


class Sink:
    """A telemetry sink that keeps the points, each encoded as line protocol as the InfluxDB sinks do."""

    name = "memory"

    def __init__(self) -> None:
        self.points: list[Point] = []

    async def write(self, points: list[Point]) -> None:
        for point in points:
            encode_point(point)
        self.points += points

    def committed(self) -> asyncio.Future[None]:
        return already_committed()

    async def close(self) -> None:
        return None


@pytest.fixture(scope="module")
def ingest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MqttCollector, Pipeline, Sink]]:
    sink = Sink()
    deadletters = DeadLetterStore(tmp_path_factory.mktemp("dl") / "dl.sqlite")
    pipeline = Pipeline(REGISTRY, sink, deadletters)
    yield MqttCollector(MqttConfig(), pipeline), pipeline, sink
    deadletters.close()


@FUZZ
@given(batch=st.lists(messages(), min_size=1, max_size=12))
def test_any_mqtt_message_is_stored_or_dead_lettered_never_raised(
    ingest: tuple[MqttCollector, Pipeline, Sink], batch: list[tuple[str, bytes, bool]]
) -> None:
    collector, pipeline, sink = ingest
    stored_before, rejected_before = len(sink.points), pipeline.stats.rejects_total
    letters_before = len(pipeline.deadletters._pending)
    deliveries = [Delivery(topic, body, 1, False) for topic, body, _ in batch]
    records, origins = collector.decode_batch(deliveries)
    asyncio.run(pipeline.submit(records, source="mqtt", origins=origins))
    stored = len(sink.points) - stored_before
    rejected = pipeline.stats.rejects_total - rejected_before
    assert stored + rejected == len(batch), f"{stored} stored + {rejected} rejected of {len(batch)}"
    assert stored >= sum(pristine for _, _, pristine in batch), "every untouched valid message is stored"
    letters = pipeline.deadletters._pending[letters_before:]
    assert len(letters) == rejected
    for letter in letters:
        assert RejectReason(letter.reason)
        assert letter.detail
        assert " raised " not in letter.detail, (
            f"a decoder crashed (caught by the collector): {letter.detail}"
        )
    pipeline.deadletters.flush()


# -- MQTT framing --------------------------------------------------------------------------------------


def _publish(topic: bytes, payload: bytes, qos: int, packet_id: int) -> bytes:
    body = struct.pack(">H", len(topic)) + topic + (struct.pack(">H", packet_id) if qos else b"") + payload
    length, encoded = len(body), b""
    while True:
        byte, length = length & 0x7F, length >> 7
        encoded += bytes([byte | (0x80 if length else 0)])
        if not length:
            break
    return bytes([0x30 | (qos << 1)]) + encoded + body


@FUZZ
@given(stream=st.binary(max_size=300), qos2=st.booleans())
def test_any_byte_stream_is_split_into_packets_or_refused(stream: bytes, qos2: bool) -> None:
    deliveries: list[Delivery] = []
    try:
        used = split_packets(stream, deliveries, [], [], set() if qos2 else None)
    except ValueError:
        return
    assert 0 <= used <= len(stream)


@FUZZ
@given(
    packets=st.lists(
        st.tuples(st.text(min_size=1, max_size=30), st.binary(max_size=400), st.integers(0, 1)), max_size=10
    ),
    cut=st.integers(0, 5000),
)
def test_publish_packets_come_back_byte_for_byte(packets: list[tuple[str, bytes, int]], cut: int) -> None:
    stream = b"".join(_publish(t.encode(), p, q, i + 1) for i, (t, p, q) in enumerate(packets))
    deliveries: list[Delivery] = []
    used = split_packets(stream[:cut], deliveries, [], [])  # a read may end anywhere: whole packets only
    used += split_packets(stream[used:], deliveries, [], [])
    assert used == len(stream)
    assert [(d.topic, d.payload, d.qos) for d in deliveries] == packets


# -- the durable buffer's segments (what a power cut leaves on disk) ---------------------------------------


def _frame(payload: bytes, points: int) -> bytes:
    return FRAME.pack(len(payload), points, crc(len(payload), points, payload)) + payload


@FUZZ
@given(
    records=st.lists(  # as the buffer writes them: a payload, at most one point per byte of it
        st.binary(min_size=1, max_size=60).flatmap(lambda p: st.tuples(st.just(p), st.integers(0, len(p)))),
        max_size=6,
    ),
    damage=st.lists(st.tuples(st.integers(0, 10_000), st.binary(min_size=1, max_size=8)), max_size=4),
)
def test_any_damaged_segment_reads_back_its_whole_records_only(
    records: list[tuple[bytes, int]], damage: list[tuple[int, bytes]]
) -> None:
    data = b"".join(_frame(p, n) for p, n in records)
    for at, junk in damage:  # bytes overwritten, or the file cut short
        at %= len(data) + 1
        data = data[:at] + junk + data[at + len(junk) :] if junk[0] % 4 else data[:at]
    view, offset, found = memoryview(data), 0, []
    while (start := next_valid_frame(data, view, offset)) is not None:
        frame = valid_frame(data, view, start)
        assert frame is not None, "a resynchronised offset holds a whole record"
        points, offset = frame
        assert start < offset <= len(data)
        found.append((bytes(view[start + FRAME.size : offset]), points))
    if not damage:
        assert found == records


# -- Modbus registers ----------------------------------------------------------------------------------

MAPS = [load_register_map(name) for name in builtin_maps()]


@pytest.mark.parametrize("register_map", MAPS, ids=[m.name for m in MAPS])
@FUZZ
@given(data=st.data())
def test_any_register_words_decode_to_metrics_or_a_range_problem(
    register_map: Any, data: st.DataObject
) -> None:
    words = data.draw(
        st.lists(st.integers(0, 0xFFFF), min_size=register_map.count, max_size=register_map.count)
    )
    metrics = decode_registers(register_map, words)
    problems = out_of_range(register_map, metrics)
    assert all(isinstance(p, str) and p for p in problems)
    if not problems:  # what the poller then stores
        Reading(device_id="HY-1", time=utc_now(), metrics=metrics)
    wrong = data.draw(st.lists(st.integers(-(2**20), 2**20), max_size=register_map.count + 3))
    if len(wrong) != register_map.count or not all(0 <= w <= 0xFFFF for w in wrong):
        with pytest.raises(ValueError, match=r"registers|16-bit"):
            decode_registers(register_map, wrong)


# -- the device CSV --------------------------------------------------------------------------------------

_CELLS = st.sampled_from(
    [
        "",
        " ",
        "0",
        "-1",
        "3",
        "300",
        "70000",
        "1e309",
        "nan",
        "inf",
        "五",
        "E001",
        "SD-1",
        "hydrant",
        "smoke_detector",
        "camera",
        "a=1",
        "pressure_min_mpa=0.6;pressure_max_mpa=0.3",
        "192.168.0.1",
        "869975030012345",
        '"',
        "\x00",
    ]
) | st.text(max_size=12)


@CSV_FUZZ
@given(
    text=st.text(max_size=400)
    | st.lists(st.lists(_CELLS, max_size=8), max_size=8).map(
        lambda rows: "\n".join([",".join(CSV_COLUMNS[:8])] + [",".join(r) for r in rows])
    )
)
def test_any_text_imports_or_is_refused_with_sentences(tmp_path: Path, text: str) -> None:
    path = tmp_path / "devices.csv"
    path.write_text(text, encoding="utf-8")
    try:
        registry: Registry | None = load_registry(path)
    except RegistryError as exc:
        registry, problems = None, exc.problems
    if registry is None:
        assert problems
        assert all(isinstance(p, str) and p.strip() for p in problems)


#: (column, a value it must refuse, words of the refusal)
BROKEN_CELLS = [
    ("kind", "sprinkler", "kind: 'sprinkler' is not allowed"),
    ("floor", "五", "floor: '五' is not a whole number"),
    ("imei", "86997503001", "imei: '86997503001' has 11 digits"),
    ("modbus_port", "70000", "modbus_port: 70000 is not a TCP port"),
    ("modbus_unit", "300", "modbus_unit: 300 is out of range"),
    ("modbus_host", "10.0.0.300", "modbus_host: '10.0.0.300' is not an IPv4 address"),
    ("thresholds", "pressure_min_mpa=0.6;pressure_max_mpa=0.3", "must be below pressure_max_mpa"),
    ("poll_interval_s", "-5", "poll_interval_s: -5 is out of range"),
    ("point", "roof", "point: 'roof' is not allowed"),
    ("device_id", "SD 1", "device_id: 'SD 1' has a space"),
]


def _good_rows(n: int) -> list[dict[str, str]]:
    return [
        {
            "device_id": f"HY-{i}",
            "kind": "hydrant",
            "estate_id": "E1",
            "property_company": "安居物业",
            "floor": str(i % 30),
            "imei": f"{869975030000000 + i}",
            "modbus_host": "192.168.1.10",
            "modbus_port": "502",
            "modbus_unit": str(1 + i),
            "poll_interval_s": "60",
            "thresholds": "pressure_min_mpa=0.1",
            "point": "riser",
        }
        for i in range(n)
    ]


@CSV_FUZZ
@given(n=st.integers(1, 40), data=st.data())
def test_a_broken_cell_is_named_on_its_own_line_only(tmp_path: Path, n: int, data: st.DataObject) -> None:
    rows = _good_rows(n)
    index = data.draw(st.integers(0, n - 1))
    column, value, words = data.draw(st.sampled_from(BROKEN_CELLS))
    rows[index][column] = value
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / "devices.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    [problem] = info.value.problems
    assert problem.startswith(f"line {index + 2}: "), problem
    assert words in problem, problem
