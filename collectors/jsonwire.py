"""What every JSON decoder needs, in one place: parse with a size limit, typed field getters, device time.

The wire formats (docs/wire-formats.md) share their rules: a UTF-8 JSON object of at most
``max_payload_bytes``, unknown keys ignored, a missing or mistyped key is a ``schema`` reject, a value outside
its physical range an ``out_of_range`` reject, epoch times in milliseconds and ``YYYY-MM-DD hh:mm:ss`` in
China Standard Time. Keeping those rules here keeps each decoder a short list of fields, and makes every
reject read the same way: which field, what was expected, what arrived.

The getters are on the hot path (tens of thousands of messages a second), so the accepted case is a type check
and a comparison; building a helpful message happens only on the way to a ``DecodeError``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NamedTuple, Self, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field

from collectors.base import DecodeError, RejectReason
from gateway.models import Record

#: The default payload limit of every JSON format (docs/wire-formats.md, "General rules").
DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024

#: China Standard Time: GB/T 45839 ``datetime`` strings are local time in UTC+8, without an offset.
CST = timezone(timedelta(hours=8), "CST")

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The latest epoch-ms accepted: 2262-04-11, the end of the signed 64-bit nanosecond range every time-series
#: store uses. A device time beyond it cannot be a clock reading, only a corrupt value.
_MAX_EPOCH_MS = (2**63 - 1) // 1_000_000


class Bounds(NamedTuple):
    """The physical range of a value, inclusive, with its unit for error messages."""

    lo: float
    hi: float
    unit: str = ""


# Canonical metric ranges (docs/wire-formats.md, "Canonical metric names").
BATTERY_PCT = Bounds(0, 100, "%")
SIGNAL_DBM = Bounds(-140, -44, "dBm")
PRESSURE_MPA = Bounds(-0.1, 4.0, "MPa")
TEMPERATURE_C = Bounds(-40, 85, "°C")
#: Message counters wrap at 2^32.
SEQ = Bounds(0, 2**32 - 1)


class JsonDecoderOptions(BaseModel):
    """Options every JSON decoder accepts. Unknown keys fail at start-up, naming the key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_payload_bytes: int = Field(default=DEFAULT_MAX_PAYLOAD_BYTES, gt=0)

    @classmethod
    def of(cls, options: Mapping[str, Any] | Self | None) -> Self:
        """Options from the subscription's mapping (validated here, at start-up) or an instance as is."""
        return options if isinstance(options, cls) else cls.model_validate(options or {})


class IdTopicOptions(JsonDecoderOptions):
    #: Topic level holding the device id (e.g. ``fire/smoke/{device_id}/up``; negative counts from the end).
    #: None turns the topic/payload cross-check off.
    topic_id_level: int | None = -2


class IdKeyedJsonDecoder:
    """The shape shared by the formats whose payload names its device in ``id``: parse the object, read the
    id, then ``_record``; any reject raised after the id is known carries it, so dead letters and counters
    are attributed to the device."""

    name: str
    options_model: type[IdTopicOptions] = IdTopicOptions

    def __init__(self, options: Mapping[str, Any] | IdTopicOptions | None = None) -> None:
        self.options = opts = self.options_model.of(options)
        self._max_bytes = opts.max_payload_bytes
        self._topic_level = opts.topic_id_level

    def decode(self, topic: str, payload: bytes) -> list[Record]:
        obj = parse_object(payload, self._max_bytes)
        device_id = req_str(obj, "id")
        try:
            return [self._record(topic, device_id, obj)]
        except DecodeError as exc:
            exc.device_id = device_id
            raise

    def _record(self, topic: str, device_id: str, obj: dict[str, Any]) -> Record:
        raise NotImplementedError


# --------------------------------------------------------------------------------------------- parsing


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN/Infinity/-Infinity, which are not JSON; no device value may be one.
    raise ValueError(f"{name} is not valid JSON")


# One decoder made once: ``json.loads`` with a keyword argument would build a new one per message.
_JSON = json.JSONDecoder(parse_constant=_reject_constant)
#: The hot path: orjson accepts a subset of what the standard library does (strict RFC 8259, 64-bit
#: integers), so whatever it refuses is parsed again by ``_JSON``, which either accepts it as before (a huge
#: integer, a lone surrogate) or rejects it with the message the dead letters have always carried.
_fast_loads = orjson.loads


def parse_object(payload: bytes, max_bytes: int) -> dict[str, Any]:
    """Parse one UTF-8 JSON object, or raise ``DecodeError`` (``too_large``, ``malformed`` or ``schema``)."""
    if len(payload) > max_bytes:
        raise DecodeError(
            RejectReason.TOO_LARGE,
            f"payload is {len(payload)} bytes, larger than the limit of {max_bytes} bytes",
        )
    try:
        obj = _fast_loads(payload)
    except orjson.JSONDecodeError:
        obj = _strict_loads(payload)  # refused: the standard library says why, in its own words
    if type(obj) is not dict:
        raise DecodeError(RejectReason.SCHEMA, f"payload must be a JSON object, got {describe(obj)}")
    return obj


def _strict_loads(payload: bytes) -> Any:
    try:
        obj = _JSON.decode(payload.decode("utf-8"))
    except UnicodeDecodeError as exc:
        detail = f"payload is not UTF-8: {exc.reason} at byte {exc.start}"
        raise DecodeError(RejectReason.MALFORMED, detail) from None
    except RecursionError:
        raise DecodeError(RejectReason.MALFORMED, "payload is not usable JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, integers with too many digits
        raise DecodeError(RejectReason.MALFORMED, f"payload is not valid JSON: {exc}") from None
    return obj


def topic_level(topic: str, level: int | None) -> str | None:
    """The topic level at index ``level`` (negative counts from the end), or None if absent or empty."""
    if level is None:
        return None
    parts = topic.split("/")
    if -len(parts) <= level < len(parts):
        return parts[level] or None
    return None


def check_topic_id(topic: str, level: int | None, payload_id: str, what: str = "device id") -> None:
    """Reject (``schema``) a payload whose identity differs from the one its topic names.

    The payload identity is the one records carry; the topic is only a cross-check, skipped when ``level`` is
    None or the topic has no such level.
    """
    from_topic = topic_level(topic, level)
    if from_topic is not None and from_topic != payload_id:
        raise DecodeError(
            RejectReason.SCHEMA,
            f"payload {what} {payload_id!r} does not match {from_topic!r} in topic {topic!r}",
            device_id=payload_id,
        )


# --------------------------------------------------------------------------------------------- messages


def describe(value: Any) -> str:
    """A value as a JSON type and a short excerpt, for "got ..." in error messages."""
    if value is None:
        return "null"
    if value is True or value is False:
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, int):
        text = str(value) if value.bit_length() < 200 else f"an integer of {len(str(value))} digits"
        return text
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "..."
        return f"string {shown!r}"
    if isinstance(value, list):
        return f"an array of {len(value)} item(s)"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__  # not reachable from json.loads


def schema_error(obj: dict[str, Any], key: str, where: str, expected: str) -> DecodeError:
    """``schema``: the field ``key`` of ``obj`` is missing or not what was expected."""
    if key not in obj:
        return DecodeError(RejectReason.SCHEMA, f"missing required field '{where}{key}' ({expected})")
    got = describe(obj[key])
    return DecodeError(RejectReason.SCHEMA, f"field '{where}{key}' must be {expected}, got {got}")


def unknown_event(key: str, where: str, value: Any, known: Iterable[object]) -> DecodeError:
    """``unknown_event``: a well-typed code that is not in the table of known ones."""
    listed = ", ".join(str(k) for k in known)
    shown = repr(value) if isinstance(value, str | int) else describe(value)
    detail = f"field '{where}{key}' has unknown value {shown}; known: {listed}"
    return DecodeError(RejectReason.UNKNOWN_EVENT, detail)


def _range_text(kind: str, bounds: Bounds) -> str:
    unit = f" {bounds.unit}" if bounds.unit else ""
    return f"{kind} from {_num(bounds.lo)} to {_num(bounds.hi)}{unit}"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else str(x)


def _out_of_range(key: str, where: str, kind: str, bounds: Bounds, value: Any) -> DecodeError:
    return DecodeError(
        RejectReason.OUT_OF_RANGE,
        f"field '{where}{key}' must be {_range_text(kind, bounds)}, got {describe(value)}",
    )


# --------------------------------------------------------------------------------------------- strings


def req_str(obj: dict[str, Any], key: str, where: str = "") -> str:
    """A required non-empty string."""
    value = obj.get(key)
    if type(value) is str and value:
        return value
    raise schema_error(obj, key, where, "a non-empty string")


def opt_str(obj: dict[str, Any], key: str, where: str = "") -> str | None:
    """An optional string (absent or null -> None)."""
    value = obj.get(key)
    if type(value) is str or value is None:
        return value
    raise schema_error(obj, key, where, "a string")


def req_choice(obj: dict[str, Any], key: str, choices: Collection[str], where: str = "") -> str:
    """A required string out of a fixed set; anything else is a ``schema`` reject listing the set."""
    value = obj.get(key)
    if type(value) is str and value in choices:
        return value
    raise _bad_choice(obj, key, where, choices)


def opt_choice(obj: dict[str, Any], key: str, choices: Collection[str], where: str = "") -> str | None:
    """An optional string out of a fixed set (absent or null -> None)."""
    value = obj.get(key)
    if value is None or (type(value) is str and value in choices):
        return value
    raise _bad_choice(obj, key, where, choices)


def _bad_choice(obj: dict[str, Any], key: str, where: str, choices: Collection[str]) -> DecodeError:
    return schema_error(obj, key, where, "one of " + ", ".join(f"'{c}'" for c in choices))


def req_event(obj: dict[str, Any], key: str, table: Mapping[str, T], where: str = "") -> T:
    """A string code looked up in ``table``: not a string is ``schema``, unknown is ``unknown_event``."""
    value = obj.get(key)
    if type(value) is str:
        found = table.get(value)
        if found is not None:
            return found
        raise unknown_event(key, where, value, table)
    raise schema_error(obj, key, where, f"a string, one of {', '.join(table)}")


# --------------------------------------------------------------------------------------------- numbers


def _as_int(value: Any) -> int | None:
    """JSON does not tell 87 from 87.0: accept an integral float as an integer, nothing else."""
    if type(value) is float and value.is_integer():
        return int(value)
    return None


def req_int(obj: dict[str, Any], key: str, bounds: Bounds | None = None, where: str = "") -> int:
    """A required integer, within ``bounds`` if given."""
    value = obj.get(key)
    if type(value) is not int:
        coerced = _as_int(value)
        if coerced is None:
            raise schema_error(obj, key, where, _expect_int(bounds))
        value = coerced
    if bounds is None or bounds.lo <= value <= bounds.hi:
        return value
    raise _out_of_range(key, where, "an integer", bounds, value)


def opt_int(obj: dict[str, Any], key: str, bounds: Bounds | None = None, where: str = "") -> int | None:
    """An optional integer (absent or null -> None), within ``bounds`` if given."""
    value = obj.get(key)
    if type(value) is not int:
        if value is None:
            return None
        coerced = _as_int(value)
        if coerced is None:
            raise schema_error(obj, key, where, _expect_int(bounds))
        value = coerced
    if bounds is None or bounds.lo <= value <= bounds.hi:
        return value
    raise _out_of_range(key, where, "an integer", bounds, value)


def _expect_int(bounds: Bounds | None) -> str:
    return "an integer" if bounds is None else _range_text("an integer", bounds)


def req_float(obj: dict[str, Any], key: str, bounds: Bounds, where: str = "") -> float:
    """A required number within ``bounds``, always returned as a float (a metric keeps one type)."""
    value: Any = obj.get(key)
    kind = type(value)
    if kind is not float and kind is not int:
        raise schema_error(obj, key, where, _range_text("a number", bounds))
    if bounds.lo <= value <= bounds.hi:
        return float(value)
    raise _out_of_range(key, where, "a number", bounds, value)


def opt_float(obj: dict[str, Any], key: str, bounds: Bounds, where: str = "") -> float | None:
    """An optional number within ``bounds`` (absent or null -> None), as a float."""
    value: Any = obj.get(key)
    kind = type(value)
    if kind is not float and kind is not int:
        if value is None:
            return None
        raise schema_error(obj, key, where, _range_text("a number", bounds))
    if bounds.lo <= value <= bounds.hi:
        return float(value)
    raise _out_of_range(key, where, "a number", bounds, value)


def req_object(obj: dict[str, Any], key: str, where: str = "") -> dict[str, Any]:
    """A required nested JSON object."""
    value = obj.get(key)
    if type(value) is dict:
        return value
    raise schema_error(obj, key, where, "an object")


# --------------------------------------------------------------------------------------------- time


def ms_to_utc(ms: int) -> datetime:
    """Epoch milliseconds -> aware UTC datetime (exact: integer arithmetic, no float rounding)."""
    return _EPOCH + timedelta(milliseconds=ms)


def req_epoch_ms(obj: dict[str, Any], key: str, where: str = "") -> datetime:
    """A required epoch-milliseconds integer, as an aware UTC datetime."""
    value = obj.get(key)
    if type(value) is int and 0 <= value <= _MAX_EPOCH_MS:
        return _EPOCH + timedelta(milliseconds=value)
    coerced = value if type(value) is int else _as_int(value)
    if coerced is None:
        raise schema_error(obj, key, where, "an integer (epoch milliseconds)")
    if 0 <= coerced <= _MAX_EPOCH_MS:
        return _EPOCH + timedelta(milliseconds=coerced)
    raise DecodeError(
        RejectReason.OUT_OF_RANGE,
        f"field '{where}{key}' must be epoch milliseconds from 0 to {_MAX_EPOCH_MS} "
        f"(1970-01-01 to 2262-04-11), got {describe(value)}",
    )


def cst_to_utc(text: str) -> datetime:
    """``YYYY-MM-DD hh:mm:ss`` in China Standard Time -> aware UTC datetime; ValueError if not that form."""
    if (
        len(text) != 19
        or text[4] != "-"
        or text[7] != "-"
        or text[10] != " "
        or text[13] != ":"
        or text[16] != ":"
        or not text.isascii()
    ):
        raise ValueError("not in the form YYYY-MM-DD hh:mm:ss")
    # fromisoformat checks that the remaining positions are digits and that the date and time exist.
    return datetime.fromisoformat(text).replace(tzinfo=CST).astimezone(UTC)


def req_cst_datetime(obj: dict[str, Any], key: str, where: str = "") -> datetime:
    """A required ``YYYY-MM-DD hh:mm:ss`` China Standard Time string, as an aware UTC datetime."""
    value = obj.get(key)
    if type(value) is str:
        try:
            return cst_to_utc(value)
        except (ValueError, OverflowError):  # OverflowError: 0001-01-01 00:00 CST is before year 1 in UTC
            pass
    raise schema_error(obj, key, where, "a date and time 'YYYY-MM-DD hh:mm:ss' (China Standard Time)")
