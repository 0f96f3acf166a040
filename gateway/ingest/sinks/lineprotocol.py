"""Points to InfluxDB line protocol, fast enough for the hot path.

Every point the gateway stores passes through here (>= 25,000 points/s on two cores, next to MQTT and
decoding), so the encoder avoids per-character work:

- Names repeat endlessly (measurements, tag keys, device ids, field keys), so their escaped forms are
  memoised in plain dicts: after warm-up an escape is one dict lookup. The caches are bounded (cleared when
  they grow past ``_CACHE_MAX`` entries) so a flood of unique names cannot grow memory without limit.
- A string needs escaping only when it contains one of a few characters; ``str.translate`` (C code) is run
  only then.
- Float formatting is ``repr``, the shortest text that reads back as the same double.

Escaping follows the line protocol reference (the same rules in InfluxDB 1.x and 2.x):

=================  =====================================
element            escaped
=================  =====================================
measurement        comma, space
tag key / value    comma, equals sign, space
field key          comma, equals sign, space
string field       double quote, backslash
=================  =====================================

Line protocol has no escape for a line break outside a string field, so ``\\n``, ``\\r`` and ``\\t`` in
names and tag values are written as the two characters backslash + letter (as influxdb-client does): the
line stays one line instead of splitting the batch into garbage. A name or tag value *ending* in
backslashes would escape the delimiter after it (in InfluxDB 1.x even when doubled), so trailing
backslashes are removed; a tag left empty by that is omitted.

Points that InfluxDB would refuse are not encoded rather than poisoning a whole batch: tags with an empty
key or value are left out (InfluxDB cannot store them), and so are NaN and infinite floats; a point left
with no field at all is skipped. ``encode_counted`` says how many points were actually encoded.

Tags are written sorted by key, as InfluxDB recommends (it sorts them itself otherwise, per point).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from gateway.ingest.sinks.base import FieldValue, Point

_CACHE_MAX = 100_000

_MEASUREMENT_SPECIAL = (",", " ", "\n", "\r", "\t")
_KEY_SPECIAL = (",", "=", " ", "\n", "\r", "\t")
_MEASUREMENT_TABLE = str.maketrans({",": "\\,", " ": "\\ ", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_KEY_TABLE = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_STRING_TABLE = str.maketrans({'"': '\\"', "\\": "\\\\"})

_measurements: dict[str, str] = {}
_keys: dict[str, str] = {}
_field_prefixes: dict[str, str] = {}
_tag_sets: dict[tuple[tuple[str, str], ...], str] = {}


def _escape(text: str, special: tuple[str, ...], table: dict[int, str]) -> str:
    for char in special:
        if char in text:
            text = text.translate(table)
            break
    if text.endswith("\\"):
        # InfluxDB 1.x decides "escaped" by looking at the previous byte only, so a name ending in a
        # backslash always swallows the delimiter after it (``\\`` does not help either). Drop them.
        text = text.rstrip("\\")
    return text


def escape_measurement(name: str) -> str:
    """Escape a measurement name (memoised)."""
    escaped = _measurements.get(name)
    if escaped is None:
        if len(_measurements) >= _CACHE_MAX:
            _measurements.clear()
        escaped = _measurements[name] = _escape(name, _MEASUREMENT_SPECIAL, _MEASUREMENT_TABLE)
    return escaped


def escape_key(text: str) -> str:
    """Escape a tag key, tag value or field key (memoised: these are the same few thousand strings)."""
    escaped = _keys.get(text)
    if escaped is None:
        if len(_keys) >= _CACHE_MAX:
            _keys.clear()
        escaped = _keys[text] = _escape(text, _KEY_SPECIAL, _KEY_TABLE)
    return escaped


def escape_string_field(value: str) -> str:
    """A string field value with its quotes: ``"..."`` with double quotes and backslashes escaped."""
    if '"' in value or "\\" in value:
        value = value.translate(_STRING_TABLE)
    return '"' + value + '"'


def format_field_value(value: FieldValue) -> str | None:
    """One field value as line protocol, or None for a value InfluxDB cannot store (NaN, infinity).

    ``encode_point`` inlines the float and str cases (most values); this handles the rest, including
    subclasses such as an ``IntEnum``.
    """
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{int(value)}i"
    if isinstance(value, float):
        return repr(float(value)) if math.isfinite(value) else None
    if isinstance(value, str):
        return escape_string_field(str(value))
    raise TypeError(f"unsupported field value type {type(value).__name__}: {value!r}")


def _tag_set(tags: dict[str, str]) -> str:
    """``,k1=v1,k2=v2`` for a tag dict, sorted by key (memoised by its items: devices reuse their tags)."""
    cache_key = tuple(tags.items())
    text = _tag_sets.get(cache_key)
    if text is None:
        if len(_tag_sets) >= _CACHE_MAX:
            _tag_sets.clear()
        pairs = ((escape_key(k), escape_key(v)) for k, v in sorted(cache_key))
        text = "".join(["," + k + "=" + v for k, v in pairs if k and v])
        _tag_sets[cache_key] = text
    return text


def _field_prefix(name: str) -> str:
    """``key=`` for a field key (memoised)."""
    prefix = _field_prefixes.get(name)
    if prefix is None:
        if len(_field_prefixes) >= _CACHE_MAX:
            _field_prefixes.clear()
        prefix = _field_prefixes[name] = escape_key(name) + "="
    return prefix


def encode_point(point: Point) -> str | None:
    """One point as one line (without the newline), or None when it has no storable field."""
    prefixes = _field_prefixes
    parts: list[str] = []
    append = parts.append
    for name, value in point.fields.items():
        prefix = prefixes.get(name) or _field_prefix(name)
        kind = type(value)
        if kind is float:
            if value - value == 0:  # type: ignore[operator]  # false for NaN and infinity: not storable
                append(f"{prefix}{value!r}")
        elif kind is str:
            if '"' in value or "\\" in value:  # type: ignore[operator]
                value = value.translate(_STRING_TABLE)  # type: ignore[union-attr]
            append(f'{prefix}"{value}"')
        else:
            text = format_field_value(value)
            if text is not None:
                append(prefix + text)
    if not parts:
        return None
    measurement = _measurements.get(point.measurement) or escape_measurement(point.measurement)
    tags = point.tags
    if tags:
        tag_set = _tag_sets.get(tuple(tags.items())) or _tag_set(tags)
        return f"{measurement}{tag_set} {','.join(parts)} {point.time_ns}"
    return f"{measurement} {','.join(parts)} {point.time_ns}"


def encode_counted(points: Iterable[Point]) -> tuple[bytes, int]:
    """Encode points into one newline-terminated body; returns the body and how many points it holds."""
    lines: list[str] = []
    append = lines.append
    for point in points:
        line = encode_point(point)
        if line is not None:
            append(line)
    if not lines:
        return b"", 0
    lines.append("")
    return "\n".join(lines).encode(), len(lines) - 1


def encode(points: Iterable[Point]) -> bytes:
    """Encode points into one newline-terminated line protocol body (see ``encode_counted``)."""
    return encode_counted(points)[0]
