"""The field for the end-to-end grading tests (tests/test_grading_e2e.py): a small registry of estates, each
kept for one point of issue 14, and a ``Field`` that plays the devices over real Mosquitto in their wire
formats (docs/wire-formats.md), moves the simulated clock and reads outcomes through the HTTP API.

Time is a virtual ``SimClock``: it moves only when ``Field.advance`` moves it, in steps. At each step the
devices that report on their own (hydrant DTUs every minute, camera keep-alives every minute) send what they
would send then, the test waits until the gateway has taken every message in, and the rule engine is ticked
at the new time (it also ticks on its own; this makes sure a tick happened at each step, as its one-second
ticks would on a real clock). Nothing is sent outside the wire formats, and nothing is read from the engine
that the API does not show, except the message counts used to wait for the gateway.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiomqtt
import httpx

from gateway.app import Gateway
from gateway.casework.engine import RuleEngine
from gateway.ingest.registry import Registry, registry_from_mapping
from simulators.clock import SimClock, to_ms

#: 10:00 in China (UTC+8) on a Monday.
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
#: Every green condition of the default policy (annex 3).
ALL_GREEN = [f"G{i}" for i in range(1, 9)]
DISTRICT, STREET = "浦东新区", "花木街道"


def _estate(estate_id: str, name: str, company: str = "示例物业") -> dict[str, Any]:
    return {
        "id": estate_id,
        "name": name,
        "district": DISTRICT,
        "street": STREET,
        "property_company": company,
    }


def _hydrant(device_id: str, estate_id: str, location: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": device_id,
        "kind": "hydrant",
        "estate_id": estate_id,
        "location": location,
        "wire_format": "hydrant_json",
        "point": "least_favourable",
        **extra,
    }


def _smoke(device_id: str, estate_id: str, location: str) -> dict[str, Any]:
    return {
        "id": device_id,
        "kind": "smoke_detector",
        "estate_id": estate_id,
        "location": location,
        "wire_format": "smoke_json",
    }


def _camera(device_id: str, estate_id: str, location: str) -> dict[str, Any]:
    return {
        "id": device_id,
        "kind": "camera",
        "estate_id": estate_id,
        "location": location,
        "wire_format": "camera_event",
    }


def grading_registry() -> Registry:
    """One estate (or two) per point of issue 14."""
    return registry_from_mapping(
        {
            "estates": [
                _estate("E1", "1 从未上报小区"),
                _estate("E2", "2 水压测点小区"),
                _estate("E3A", "3A 摄像头消防车通道小区"),
                _estate("E3B", "3B 网格员巡查小区"),
                _estate("E4", "4 消火栓失压小区"),
                _estate("E5", "5 维保测试小区"),
                _estate("E6", "6 投诉小区"),
                _estate("E7", "7 监测故障小区"),
                _estate("E8", "8 电梯电动车小区"),
            ],
            "devices": [
                # 1: registered, never heard from.
                _smoke("SD-E1-01", "E1", "1号楼 101 室"),
                _hydrant("HY-E1-01", "E1", "1号楼顶层最不利点消火栓"),
                _camera("CAM-E1-01", "E1", "北门消防车通道"),
                # 2: a static sensor at the least favourable point, one that reads flowing outlet pressure.
                _hydrant("HY-E2-LF", "E2", "7号楼顶层最不利点消火栓（静压）"),
                _hydrant("HY-E2-FL", "E2", "7号楼一层消火栓栓口（动压）", reading="flowing"),
                # 3A: a camera on the fire lane (3B has no devices: a grid worker reports there).
                _camera("CAM-E3A-01", "E3A", "东门消防车通道"),
                # 4: one hydrant loses its pressure and stays low, another dips for a second.
                _hydrant("HY-E4-01", "E4", "3号楼顶层最不利点消火栓"),
                _hydrant("HY-E4-02", "E4", "5号楼顶层最不利点消火栓"),
                # 5: a hydrant flow test and a monthly test alarm, each inside a window.
                _hydrant("HY-E5-01", "E5", "2号楼顶层最不利点消火栓"),
                _smoke("SD-E5-01", "E5", "2号楼 1201 室"),
                # 6: no devices: complaints only.
                # 7: a pressure sensor and a camera fall silent; the smoke detector keeps the estate heard.
                _hydrant("HY-E7-01", "E7", "6号楼顶层最不利点消火栓"),
                _camera("CAM-E7-01", "E7", "南门消防车通道"),
                _smoke("SD-E7-01", "E7", "6号楼 302 室"),
                # 8: a camera in a lift car.
                _camera("CAM-E8-01", "E8", "2号楼 1号电梯轿厢"),
            ],
        },
        source="grading e2e registry",
    )


@dataclass
class Reporter:
    """A device that reports on its own every ``every_s`` (simulated seconds since the clock's start)."""

    topic: str
    payload: dict[str, Any]
    every_s: float
    next_s: float


class Field:
    """The devices, the clock, and the HTTP API of one running gateway."""

    def __init__(
        self, gateway: Gateway, clock: SimClock, mqtt: aiomqtt.Client, http: httpx.AsyncClient
    ) -> None:
        self.gateway = gateway
        self.clock = clock
        self.mqtt = mqtt
        self.http = http
        #: Other accounts' headers (the brigade's are ``http``'s own), by role.
        self.headers: dict[str, dict[str, str]] = {}
        self.reporters: dict[str, Reporter] = {}
        self._sent: dict[str, int] = defaultdict(int)
        self._seq: dict[str, int] = defaultdict(int)

    @property
    def engine(self) -> RuleEngine:
        engine = self.gateway.engine
        assert engine is not None
        return engine

    def now(self) -> datetime:
        return self.clock.now()

    # -- devices on the wire -----------------------------------------------------------------------------

    def _next_seq(self, device_id: str) -> int:
        self._seq[device_id] += 1
        return self._seq[device_id]

    def hydrant_message(self, device_id: str, pressure: float) -> tuple[str, dict[str, Any]]:
        """A DTU report (``hydrant_json``), stamped when it is sent."""
        body = {"id": device_id, "pressure": pressure, "battery": 95, "status": 0}
        return f"fire/hydrant/{device_id}/up", body

    def keep_alive_message(self, device_id: str) -> tuple[str, dict[str, Any]]:
        """A camera keep-alive (``camera_event`` type ``heartbeat``)."""
        return f"fire/camera/{device_id}/event", {"id": device_id, "type": "heartbeat"}

    async def send(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        """Publish each message now (QoS 1, ``ts`` = the simulated clock) and wait until the gateway took
        every one in (its rules have seen them then)."""
        ts = to_ms(self.now())
        for topic, body in messages:
            device_id = body["id"]
            payload = {**body, "ts": ts}
            if not topic.startswith("fire/camera/"):
                payload["seq"] = self._next_seq(device_id)
            await self.mqtt.publish(topic, json.dumps(payload, ensure_ascii=False).encode(), qos=1)
            self._sent[device_id] += 1
        pipeline = self.gateway.pipeline
        wanted = {body["id"] for _, body in messages}
        deadline = time.monotonic() + 10
        while any(pipeline.devices[d].messages < self._sent[d] for d in wanted):
            if time.monotonic() > deadline:
                late = {d: (pipeline.devices[d].messages, self._sent[d]) for d in wanted}
                raise AssertionError(f"the gateway did not take in every message within 10 s: {late}")
            await asyncio.sleep(0.005)

    async def hydrant_reads(self, device_id: str, pressure: float) -> None:
        await self.send([self.hydrant_message(device_id, pressure)])

    async def camera(
        self, device_id: str, event_type: str, state: str, event_id: str, detected: str | None = None
    ) -> None:
        body: dict[str, Any] = {"id": device_id, "event_id": event_id, "type": event_type, "state": state}
        if detected is not None:
            body.update({"object": detected, "confidence": 0.91})
        await self.send([(f"fire/camera/{device_id}/event", body)])

    async def smoke(self, device_id: str, event: str, **extra: Any) -> None:
        body = {"id": device_id, "event": event, "battery": 88, "rsrp": -95, **extra}
        await self.send([(f"fire/smoke/{device_id}/up", body)])

    async def keep_reporting(self, message: tuple[str, dict[str, Any]], every_s: float = 60.0) -> None:
        """The device sends ``message`` now and then every ``every_s`` (replacing what it sent before)."""
        topic, body = message
        self.reporters[body["id"]] = Reporter(topic, body, every_s, self.clock.elapsed_s() + every_s)
        await self.send([message])

    def stop_reporting(self, device_id: str) -> None:
        """The device falls silent."""
        del self.reporters[device_id]

    async def advance(self, seconds: float = 0.0, *, minutes: float = 0.0, step_s: float = 30.0) -> None:
        """Move the clock forward in steps; at each, the reporting devices send what is due and the rule
        engine ticks at the new time."""
        end = self.clock.elapsed_s() + seconds + 60 * minutes
        while self.clock.elapsed_s() < end:
            self.clock.advance(min(step_s, end - self.clock.elapsed_s()))
            elapsed = self.clock.elapsed_s()
            due: list[tuple[str, dict[str, Any]]] = []
            for reporter in self.reporters.values():
                if reporter.next_s <= elapsed:
                    due.append((reporter.topic, reporter.payload))
                    while reporter.next_s <= elapsed:
                        reporter.next_s += reporter.every_s
            if due:
                await self.send(due)
            self.engine.tick(self.now())
            await asyncio.sleep(0)

    # -- the HTTP API ------------------------------------------------------------------------------------

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.http.get(path, params=params)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    async def post(
        self, path: str, body: dict[str, Any], *, role: str | None = None, status: int = 200
    ) -> Any:
        headers = self.headers[role] if role is not None else None
        response = await self.http.post(path, json=body, headers=headers)
        assert response.status_code == status, f"POST {path}: {response.status_code} {response.text}"
        return response.json()

    async def grade(self, estate_id: str) -> dict[str, Any]:
        estate = await self.get(f"/api/estates/{estate_id}")
        grade = estate["grade"]
        assert isinstance(grade, dict), estate
        return grade

    async def hazards(self, **params: Any) -> list[dict[str, Any]]:
        found = await self.get("/api/hazards", **params)
        assert isinstance(found, list)
        return found

    async def colours_since(self, estate_id: str, since: datetime) -> list[str]:
        """The estate's grade changes from ``since`` on, oldest first (colour only)."""
        history = await self.get(f"/api/estates/{estate_id}/grade-history", since=since.isoformat())
        return [h["grade"] for h in reversed(history)]

    async def assess(self, estate_id: str, met: list[str] | None = None) -> dict[str, Any]:
        """The street office's assessment (排查登记), recorded over the API: every condition found to hold."""
        record = await self.post(
            f"/api/estates/{estate_id}/assessments",
            {
                "kind": "assessment",
                "met": met if met is not None else ALL_GREEN,
                "note": "街道排查登记：各项绿色条件现场核查属实",
                "attachments": [
                    {"name": "排查登记表.pdf", "url": "https://example.invalid/e2e/register.pdf"}
                ],
            },
            status=201,
        )
        assert isinstance(record, dict)
        return record


def in_minutes(field: Field, minutes: float) -> str:
    """An ISO time ``minutes`` after the simulated now (for windows and complaints)."""
    return (field.now() + timedelta(minutes=minutes)).isoformat()
