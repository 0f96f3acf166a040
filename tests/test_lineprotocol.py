"""Line protocol encoding: golden cases for every escaping rule, and a round trip through a real InfluxDB 1.x.

The golden cases pin the exact bytes; the round trip proves that InfluxDB reads those bytes back as the
values we meant (the escaping rules differ per element, and a wrong guess only shows up on a real server).
"""

from __future__ import annotations

import enum
import math
import time

import pytest
from services import InfluxService

from gateway.ingest.sinks.base import FieldValue, Point
from gateway.ingest.sinks.influx import InfluxV1Sink
from gateway.ingest.sinks.lineprotocol import encode, encode_counted, encode_point

T = 1763856000123456789


def line(measurement: str, tags: dict[str, str], fields: dict[str, FieldValue], t: int = T) -> str | None:
    return encode_point(Point(measurement, tags, fields, t))


@pytest.mark.parametrize(
    ("measurement", "tags", "fields", "expected"),
    [
        pytest.param("m", {}, {"v": 1.5}, f"m v=1.5 {T}", id="minimal"),
        pytest.param(
            "m", {"b": "2", "a": "1", "c": "3"}, {"v": 1.0}, f"m,a=1,b=2,c=3 v=1.0 {T}", id="tags-sorted"
        ),
        pytest.param(
            "my meas,x=y", {}, {"v": 1.0}, f"my\\ meas\\,x=y v=1.0 {T}", id="measurement-comma-space"
        ),
        pytest.param(
            "m",
            {"tag key": "v,a=l ue"},
            {"v": 1.0},
            f"m,tag\\ key=v\\,a\\=l\\ ue v=1.0 {T}",
            id="tag-escapes",
        ),
        pytest.param("m", {}, {"f k=,": 1.0}, f"m f\\ k\\=\\,=1.0 {T}", id="field-key-escapes"),
        pytest.param(
            "m",
            {},
            {"s": 'say "hi" \\ there'},
            f'm s="say \\"hi\\" \\\\ there" {T}',
            id="string-quote-backslash",
        ),
        pytest.param("m", {}, {"s": "a, b=c d"}, f'm s="a, b=c d" {T}', id="string-comma-space-verbatim"),
        pytest.param("m", {}, {"s": ""}, f'm s="" {T}', id="empty-string"),
        pytest.param("m", {}, {"n": 123, "neg": -5}, f"m n=123i,neg=-5i {T}", id="ints"),
        pytest.param("m", {}, {"t": True, "f": False}, f"m t=true,f=false {T}", id="bools"),
        pytest.param(
            "m",
            {},
            {"a": 0.1, "b": 1e21, "c": -2.5e-7, "d": 3.0},
            f"m a=0.1,b=1e+21,c=-2.5e-07,d=3.0 {T}",
            id="floats-repr",
        ),
        pytest.param(
            "m", {"estate": "徐汇区"}, {"note": "火警"}, f'm,estate=徐汇区 note="火警" {T}', id="unicode"
        ),
        pytest.param("m", {"a": "", "b": "x"}, {"v": 1.0}, f"m,b=x v=1.0 {T}", id="empty-tag-value-omitted"),
        pytest.param("m", {}, {"v": math.nan, "w": 2.0}, f"m w=2.0 {T}", id="nan-field-omitted"),
        pytest.param("m", {"t": "a\nb"}, {"v": 1.0}, f"m,t=a\\nb v=1.0 {T}", id="newline-in-tag"),
        pytest.param(
            "m", {"t": "ends\\", "u": "\\"}, {"v": 1.0}, f"m,t=ends v=1.0 {T}", id="trailing-backslash"
        ),
        pytest.param(
            "m", {"p": "C:\\dir"}, {"v": 1.0}, f"m,p=C:\\dir v=1.0 {T}", id="inner-backslash-verbatim"
        ),
        pytest.param("m", {}, {"s": "l1\nl2"}, f'm s="l1\nl2" {T}', id="newline-in-string-field"),
        pytest.param("m", {}, {"v": 1.0}, "m v=1.0 0", id="epoch-zero"),
    ],
)
def test_golden(measurement: str, tags: dict[str, str], fields: dict[str, FieldValue], expected: str) -> None:
    t = 0 if expected.endswith(" 0") else T
    assert line(measurement, tags, fields, t) == expected


def test_point_without_storable_field_is_skipped_and_not_counted() -> None:
    points = [
        Point("m", {}, {"v": math.inf}, T),
        Point("m", {}, {"v": 1.0}, T + 1),
        Point("m", {}, {}, T + 2),
    ]
    body, count = encode_counted(points)
    assert body == f"m v=1.0 {T + 1}\n".encode()
    assert count == 1
    assert encode([]) == b""


def test_body_is_utf8_newline_terminated() -> None:
    body = encode([Point("m", {"k": "值"}, {"v": 1.0}, 1), Point("m", {}, {"v": 2.0}, 2)])
    assert body == "m,k=值 v=1.0 1\nm v=2.0 2\n".encode()


def test_subclasses_of_field_types() -> None:
    class Level(enum.IntEnum):
        HIGH = 3

    class Name(str):
        pass

    assert line("m", {}, {"lvl": Level.HIGH, "n": Name('a"b')}) == f'm lvl=3i,n="a\\"b" {T}'


def test_unsupported_field_type_raises() -> None:
    with pytest.raises(TypeError, match="unsupported field value type"):
        line("m", {}, {"v": [1, 2]})  # type: ignore[dict-item]


def test_encode_rate_meets_hot_path_budget() -> None:
    """The gateway budget is 25,000 points/s for everything on two cores; encoding must take a fraction."""
    points = [
        Point(
            "smoke_detector",
            {
                "device": f"SD-{i % 500:05d}",
                "kind": "smoke_detector",
                "estate": f"E{i % 20:03d}",
                "district": "徐汇",
            },
            {"battery": 91.0, "rsrp": -93.5, "smoke": 0.02, "temperature": 21.5, "alarm": False},
            T + i,
        )
        for i in range(20_000)
    ]
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        encode_counted(points)
        best = max(best, len(points) / (time.perf_counter() - start))
    assert best > 25_000, f"encoding runs at {best:,.0f} points/s"


ROUND_TRIP_POINTS = [
    Point(
        "fire alarm,test",
        {
            "device": "SD 0001,a=b",
            "estate": "徐汇区 梅陇镇",
            "quote": 'say "hi"',
            "path": "C:\\dir",
        },
        {
            "note": 'He said "火警！", then left, a=b \\ done',
            "multi": "line1\nline2",
            "field key,=x": 1.25,
            "temperature": 21.5,
            "big": 1e21,
            "tiny": 1e-300,
            "count": 42,
            "neg": -7,
            "ok": True,
            "bad": False,
        },
        T,
    ),
    Point("fire alarm,test", {"device": "SD-2", "estate": "梅陇"}, {"note": "", "temperature": -3.0}, T + 1),
]


async def write_to_influxdb(influxdb: InfluxService, db: str, points: list[Point]) -> None:
    """Encode ``points`` and write them to the real InfluxDB with the v1 sink."""
    sink = InfluxV1Sink(influxdb.url, db)
    try:
        await sink.write(points)
    finally:
        await sink.close()


@pytest.mark.services
async def test_round_trip_through_real_influxdb(influxdb: InfluxService, influx_db_name: str) -> None:
    await write_to_influxdb(influxdb, influx_db_name, ROUND_TRIP_POINTS)
    rows = influxdb.rows('SELECT * FROM "fire alarm,test" GROUP BY *', influx_db_name)
    assert len(rows) == len(ROUND_TRIP_POINTS)
    by_time = {row["time"]: row for row in rows}
    for point in ROUND_TRIP_POINTS:
        row = by_time[point.time_ns]
        assert row["_measurement"] == point.measurement
        assert {k: row[k] for k in point.tags} == point.tags
        got = {k: row[k] for k in point.fields}
        assert got == point.fields
        for key, value in point.fields.items():  # == treats True as 1 and 42 as 42.0: check the types too
            assert type(got[key]) is type(value) or (isinstance(value, float) and float(got[key]) == value)


@pytest.mark.services
async def test_unrepresentable_tag_text_does_not_break_the_batch(
    influxdb: InfluxService, influx_db_name: str
) -> None:
    """Line protocol cannot carry a line break or (in 1.x) a trailing backslash in a tag; the encoder's
    substitutes must parse, so that the batch is stored with the right values instead of rejected."""
    points = [
        Point("m", {"t": "ends\\"}, {"v": 1.0}, T),
        Point("m", {"t": "two\nlines"}, {"v": 2.0}, T + 1),
        Point("m", {"t": "plain"}, {"v": 3.0}, T + 2),
    ]
    await write_to_influxdb(influxdb, influx_db_name, points)
    rows = influxdb.rows('SELECT "v", "t" FROM "m"', influx_db_name)
    assert [row["v"] for row in rows] == [1, 2, 3]
    assert rows[0]["t"] == "ends"
    assert rows[1]["t"] == "two\\nlines"
    assert rows[2]["t"] == "plain"
