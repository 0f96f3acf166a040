"""Golden-file tests for the MQTT payload decoders, and the contract every decoder in the table passes.

Each folder ``tests/golden/<decoder>/<case>/`` holds the exact bytes a device sends (``payload.json``), the
topic (``topic.txt``), optional decoder options (``options.json``) and what must come out (``expected.json``).
See ``tests/golden/README.md``; ``FIREGW_UPDATE_GOLDEN=1`` rewrites ``expected.json`` from the current output.

The contract part feeds every decoder garbage (random bytes, random JSON made of the formats' own field names,
valid messages with one field broken, empty, huge, deeply nested): a decoder may return records or raise
``DecodeError`` with a ``RejectReason``, nothing else, because the MQTT loop counts and dead-letters a
``DecodeError`` but must never die of a bad payload.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# The project is not installed into the venv; make the checkout importable when pytest is run as
# `.venv/bin/pytest` (redundant once pyproject sets `pythonpath = ["."]` for pytest).
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from collectors.base import DecodeError, RejectReason  # noqa: E402
from collectors.decoders import decoder_names, make_decoder  # noqa: E402
from gateway.models import DeviceEvent, Reading  # noqa: E402

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("FIREGW_UPDATE_GOLDEN") == "1"


# --------------------------------------------------------------------------------------------- golden files


def _case_folders() -> list[Path]:
    return sorted(p.parent for p in GOLDEN.glob("*/*/payload.json"))


def _run_case(folder: Path) -> dict[str, Any]:
    """Decode one case; the result in the shape of ``expected.json`` (an error keeps its full detail)."""
    options_file = folder / "options.json"
    options = json.loads(options_file.read_text(encoding="utf-8")) if options_file.exists() else {}
    decoder = make_decoder(folder.parent.name, options)
    topic = (folder / "topic.txt").read_text(encoding="utf-8").rstrip("\r\n")
    payload = (folder / "payload.json").read_bytes()
    try:
        records = decoder.decode(topic, payload)
    except DecodeError as exc:
        return {"error": {"reason": exc.reason.value, "detail": exc.detail, "device_id": exc.device_id}}
    return {"records": [record.model_dump(mode="json") for record in records]}


def _canonical(value: Any) -> str:
    # Compared as JSON text so that 1 vs 1.0 and true vs 1 differ: a metric's type matters to the database.
    return json.dumps(value, sort_keys=True, ensure_ascii=False, indent=1)


def _rewrite_expected(path: Path, actual: dict[str, Any]) -> None:
    old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if "records" in actual:
        new: dict[str, Any] = {"records": actual["records"]}
    else:
        error = actual["error"]
        kept = old.get("error", {}).get("detail_contains")
        # Keep a hand-picked excerpt while it still matches; otherwise pin the whole new detail.
        contains = kept if isinstance(kept, str) and kept in error["detail"] else error["detail"]
        new = {"error": {"reason": error["reason"], "detail_contains": contains}}
        if error["device_id"] is not None:
            new["error"]["device_id"] = error["device_id"]
    path.write_text(json.dumps(new, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


@pytest.mark.parametrize("folder", [pytest.param(f, id=f"{f.parent.name}/{f.name}") for f in _case_folders()])
def test_golden(folder: Path) -> None:
    actual = _run_case(folder)
    expected_path = folder / "expected.json"
    if UPDATE:
        _rewrite_expected(expected_path, actual)
        return
    if not expected_path.exists():
        pytest.fail(f"{expected_path} is missing: write it from the spec (see tests/golden/README.md)")
    expected = json.loads(expected_path.read_text(encoding="utf-8"))

    if "records" in expected:
        assert "records" in actual, f"expected records, but the payload was rejected: {actual['error']}"
        assert _canonical(actual["records"]) == _canonical(expected["records"])
        return

    want = expected["error"]
    assert "error" in actual, f"expected a {want['reason']} reject, got records: {actual['records']}"
    got = actual["error"]
    assert got["reason"] == want["reason"], f"reason {got['reason']} (detail: {got['detail']})"
    assert want["detail_contains"] in got["detail"]
    assert got["device_id"] == want.get("device_id")


def test_every_decoder_has_golden_cases() -> None:
    # tests/golden/ is shared with other golden tests (e.g. modbus/ register maps): only decoder folders here.
    for name in decoder_names():
        cases = [p for p in (GOLDEN / name).glob("*") if p.is_dir()]
        assert len(cases) >= 6, f"{name}: only {len(cases)} golden cases in tests/golden/{name}/"
        for case in cases:
            missing = {"topic.txt", "payload.json", "expected.json"} - {p.name for p in case.iterdir()}
            assert not missing, f"{case}: missing {sorted(missing)}"


# --------------------------------------------------------------------------------------------- contract

#: A topic that is valid for no particular device, so that the topic cross-check is exercised too.
_TOPICS = st.sampled_from(
    [
        "",
        "fire/smoke/SD-1/up",
        "fire/hydrant/HY-1/up",
        "fire/camera/CAM-1/event",
        "fire/gbt45839/ACME/status",
        "ctwing/15012345/push",
    ]
) | st.text(max_size=40)

#: Every key the formats use, so that random objects often reach deep into a decoder.
_KEYS = st.sampled_from(
    [
        "id",
        "seq",
        "ts",
        "event",
        "battery",
        "rsrp",
        "fault_code",
        "smoke",
        "company",
        "serial",
        "status",
        "signalStrength",
        "batteryPercentage",
        "datetime",
        "messageType",
        "IMEI",
        "deviceId",
        "productId",
        "timestamp",
        "payload",
        "serviceId",
        "serviceData",
        "alarm_code",
        "eventType",
        "pressure",
        "temperature",
        "event_id",
        "type",
        "state",
        "object",
        "confidence",
        "snapshot",
    ]
) | st.text(max_size=8)

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-200, max_value=2**33)
    | st.just(1763856000123)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(
        [
            "heartbeat",
            "alarm",
            "fault",
            "start",
            "end",
            "vehicle",
            "fire_lane_occupied",
            "dataReport",
            "deviceOnlineOfflineReport",
            "smoke_alarm",
            "2026-11-23 08:00:00",
            "0001-01-01 00:00:00",
            "SD-1",
            "ACME",
            "15012345",
        ]
    )
    | st.text(max_size=12)
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=6),
    max_leaves=10,
)
_OBJECTS = st.dictionaries(_KEYS, _JSON, max_size=10)

_CONTRACT = settings(
    database=None,  # no .hypothesis/ folder in the checkout
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow],
)


def _holds_contract(name: str, topic: str, payload: bytes) -> None:
    decoder = make_decoder(name)
    try:
        records = decoder.decode(topic, payload)
    except DecodeError as exc:
        error = exc
    else:
        assert isinstance(records, list)
        for record in records:
            assert isinstance(record, Reading | DeviceEvent)
            assert record.time.tzinfo is UTC
        return
    assert isinstance(error.reason, RejectReason)
    assert error.detail


@pytest.mark.parametrize("name", decoder_names())
@_CONTRACT
@given(topic=_TOPICS, payload=st.binary(max_size=300))
def test_contract_random_bytes(name: str, topic: str, payload: bytes) -> None:
    _holds_contract(name, topic, payload)


@pytest.mark.parametrize("name", decoder_names())
@_CONTRACT
@given(topic=_TOPICS, obj=_OBJECTS)
def test_contract_random_json_objects(name: str, topic: str, obj: dict[str, Any]) -> None:
    _holds_contract(name, topic, json.dumps(obj).encode())


def _valid_payloads(name: str) -> list[dict[str, Any]]:
    """The payloads of the golden cases this decoder accepts: good starting points for mutation."""
    found = []
    for folder in sorted((GOLDEN / name).iterdir()):
        expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
        if "records" in expected and not (folder / "options.json").exists():
            found.append(json.loads((folder / "payload.json").read_bytes()))
    return found


def _paths(obj: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for key, value in obj.items():
        paths.append((*prefix, key))
        if isinstance(value, dict):
            paths.extend(_paths(value, (*prefix, key)))
    return paths


@pytest.mark.parametrize("name", decoder_names())
@_CONTRACT
@given(data=st.data())
def test_contract_mutated_valid_payloads(name: str, data: st.DataObject) -> None:
    """A valid message with one field dropped or replaced by any JSON value: records or a DecodeError."""
    obj = copy.deepcopy(data.draw(st.sampled_from(_valid_payloads(name)), label="payload"))
    path = data.draw(st.sampled_from(_paths(obj)), label="path")
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    if data.draw(st.booleans(), label="drop"):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(_JSON, label="value")
    _holds_contract(name, "", json.dumps(obj).encode())


_HUGE = b'{"id": "' + b"x" * (1 << 20) + b'"}'


@pytest.mark.parametrize("name", decoder_names())
@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param(b"", RejectReason.MALFORMED, id="empty"),
        pytest.param(b"   \n", RejectReason.MALFORMED, id="whitespace"),
        pytest.param(b"\xff\xfe{\x00}\x00", RejectReason.MALFORMED, id="utf16"),
        pytest.param(b"\xef\xbb\xbf{}", RejectReason.MALFORMED, id="utf8-bom"),
        pytest.param(b'{"id": "a"', RejectReason.MALFORMED, id="truncated"),
        pytest.param(b'{"battery": NaN}', RejectReason.MALFORMED, id="nan"),
        pytest.param(b'{"battery": -Infinity}', RejectReason.MALFORMED, id="infinity"),
        pytest.param(b"[" * 16000, RejectReason.MALFORMED, id="nested-arrays"),
        pytest.param(b'{"a":' * 2000 + b"1" + b"}" * 2000, RejectReason.MALFORMED, id="nested-objects"),
        pytest.param(b'{"n": ' + b"9" * 5000 + b"}", RejectReason.MALFORMED, id="5000-digit-int"),
        pytest.param(b"null", RejectReason.SCHEMA, id="null"),
        pytest.param(b"42", RejectReason.SCHEMA, id="number"),
        pytest.param(b'"heartbeat"', RejectReason.SCHEMA, id="string"),
        pytest.param(b"[]", RejectReason.SCHEMA, id="empty-array"),
        pytest.param(b'[{"id": "SD-1"}]', RejectReason.SCHEMA, id="array-of-object"),
        pytest.param(b"{}", RejectReason.SCHEMA, id="empty-object"),
        pytest.param(_HUGE, RejectReason.TOO_LARGE, id="1MiB"),
    ],
)
def test_contract_bad_payloads(name: str, payload: bytes, reason: RejectReason) -> None:
    decoder = make_decoder(name)
    with pytest.raises(DecodeError) as caught:
        decoder.decode("fire/test/x/up", payload)
    assert caught.value.reason is reason, caught.value.detail


@pytest.mark.parametrize("name", decoder_names())
def test_contract_name_and_options(name: str) -> None:
    assert make_decoder(name).name == name
    # A misspelt option fails at start-up and names itself.
    with pytest.raises(ValueError, match="max_payload_byte"):
        make_decoder(name, {"max_payload_byte": 1024})
    with pytest.raises(ValueError, match="max_payload_bytes"):
        make_decoder(name, {"max_payload_bytes": 0})


# ----------------------------------------------------------------------------------------- start-up checks


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"vendor": "acme"}, "vendor table 'acme'; built-in tables: generic", id="vendor"),
        pytest.param({"vendor": "../base"}, "String should match pattern", id="vendor-path"),
        pytest.param({"code_field": "warnType"}, "needs both 'code_field' and 'codes'", id="half-table"),
        pytest.param(
            {"vendor": "generic", "code_field": "c", "codes": {"1": "alarm"}}, "not both", id="vendor+codes"
        ),
        pytest.param({"code_field": "c", "codes": {"1": "fire"}}, "codes.1", id="bad-record-name"),
    ],
)
def test_ctwing_bad_table_options_fail_at_start(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        make_decoder("ctwing", options)


def test_ctwing_custom_codes_accept_integer_keys() -> None:
    # YAML subscription options give `1: alarm` with an integer key.
    decoder = make_decoder("ctwing", {"code_field": "warn", "codes": {1: "alarm"}})
    payload = (
        b'{"messageType": "dataReport", "IMEI": "8699", "timestamp": 0,'
        b' "payload": {"serviceId": "x", "serviceData": {"warn": 1}}}'
    )
    [record] = decoder.decode("ctwing/1/push", payload)
    assert isinstance(record, DeviceEvent)
    assert record.type == "alarm"


def test_gbt45839_ack_option() -> None:
    assert getattr(make_decoder("gbt45839_status"), "ack_payload") is None  # noqa: B009
    acking = make_decoder("gbt45839_status", {"gbt45839_ack": True})
    assert getattr(acking, "ack_payload") == b'{"success":1}'  # noqa: B009


def test_parse_object_fast_path_keeps_the_standard_library_verdicts() -> None:
    """orjson is only the fast path: what it refuses is parsed again by the standard library, so a lone
    surrogate is accepted as before and a reject carries the standard library's words. One difference is
    left on purpose: orjson reads an integer beyond 64 bits as a float; no field accepts a value that large,
    so such a message is still rejected (as the wrong type instead of out of range)."""
    from collectors.jsonwire import parse_object

    surrogate = b'{"id": "\\ud800"}'
    assert parse_object(surrogate, 4096) == json.loads(surrogate)
    for bad, words in ((b'{"v": NaN}', "NaN is not valid JSON"), (b'{"v": 1,}', "Expecting property name")):
        with pytest.raises(DecodeError, match=words) as caught:
            parse_object(bad, 4096)
        assert caught.value.reason is RejectReason.MALFORMED
    huge_seq = (
        b'{"id": "SD-1", "seq": 123456789012345678901234567890, "ts": 1763856000000, "event": "heartbeat"}'
    )
    with pytest.raises(DecodeError, match="seq"):
        make_decoder("smoke_json").decode("fire/smoke/SD-1/up", huge_seq)
