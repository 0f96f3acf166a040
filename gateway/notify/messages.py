"""The text of each message, in Chinese, as the people on duty read it on a phone.

An alarm names the estate, the building, floor and room, the device and the control room's phone (GB/T
45839; domain.md "Alarm handling"): ``【火警】万福新村 1号楼 17层 1702室 烟感 SD-E001-0017 报警，请立即处置``.
"""

from __future__ import annotations

from typing import Any

from gateway.ingest.registry import Registry
from gateway.models import DeviceKind

KIND_ZH = {DeviceKind.SMOKE_DETECTOR: "烟感", DeviceKind.HYDRANT: "消火栓", DeviceKind.CAMERA: "摄像头"}


def _estate_name(registry: Registry, estate_id: str) -> str:
    try:
        return registry.estate(estate_id).name or estate_id
    except Exception:
        return estate_id


def _place(registry: Registry, data: dict[str, Any]) -> str:
    """Building, floor and room: the device's location (the registry's ``1号楼 17层 1702室``) or what the
    building and floor give."""
    if data.get("location"):
        return str(data["location"])
    parts = []
    building_id = data.get("building") or ""
    if building_id:
        building = registry.building(building_id)
        parts.append(building.name if building is not None and building.name else building_id)
    if data.get("floor") is not None:
        parts.append(f"{data['floor']}层")
    return " ".join(parts)


def _device(registry: Registry, device_id: str | None) -> str:
    if not device_id:
        return ""
    try:
        kind = KIND_ZH.get(registry.device(device_id).kind, "设备")
    except Exception:
        kind = "设备"
    return f"{kind} {device_id}"


def _phone(phone: str) -> str:
    return f"（值班室电话 {phone}）" if phone else ""


def _where(registry: Registry, data: dict[str, Any]) -> str:
    """Estate, building, floor, room and device of an alarm."""
    parts = (
        _estate_name(registry, data["estate"]),
        _place(registry, data),
        _device(registry, data["device"]),
    )
    return " ".join(p for p in parts if p)


def alarm_text(
    registry: Registry, data: dict[str, Any], phone: str, *, late_s: float | None = None
) -> tuple[str, str]:
    """Title and body of a new alarm (``data``: ``gateway.casework.payloads.alarm_summary``); ``late_s``:
    sent late by a start that found the alarm open and never pushed, that long after it arrived."""
    test = "【测试】" if data.get("test") else ""
    late = f"（补发：报警于 {late_s / 60:.0f} 分钟前）" if late_s is not None else ""
    body = f"{test}【火警】{_where(registry, data)} 报警，请立即处置{_phone(phone)}{late}"
    return f"{test}火警 {_estate_name(registry, data['estate'])}", body


def escalation_text(registry: Registry, data: dict[str, Any], after_s: float, phone: str) -> tuple[str, str]:
    where, phone_text = _where(registry, data), _phone(phone)
    body = f"【火警无人确认】{where} 报警已 {after_s:.0f} 秒无人确认，请立即督促处置{phone_text}"
    return f"火警无人确认 {_estate_name(registry, data['estate'])}", body


def combined_text(titles_and_bodies: list[tuple[str, str]]) -> tuple[str, str]:
    """Alarm messages held back by a channel's rate limit, sent together as one: each body on its line."""
    if len(titles_and_bodies) == 1:
        return titles_and_bodies[0]
    return f"火警 {len(titles_and_bodies)} 起", "\n".join(body for _, body in titles_and_bodies)


#: Hazard messages by kind: title prefix and what the party is asked.
HAZARD_KINDS = {
    "hazard_dispatched": ("隐患派单", "已派单给贵单位，请按期整改"),
    "hazard_overdue": ("隐患逾期", "已超过整改期限，请立即整改"),
    "hazard_recheck_due": ("隐患复查", "已到复查时间，请安排复查"),
    "hazard_escalated": ("隐患升级督办", "{why}已升级至{level}督办，请督促整改"),
}

#: The levels a hazard escalates to (``[notify] escalation_levels``), as the message names them.
LEVEL_ZH = {"community": "社区", "street": "街道", "district": "区", "brigade": "消防救援大队"}
#: Why it escalated (the engine's ``data["why"]``).
WHY_ZH = {"overdue": "逾期未整改，", "red": "红色隐患须立即采取措施，"}


def hazard_text(registry: Registry, kind: str, data: dict[str, Any]) -> tuple[str, str]:
    label, ask = HAZARD_KINDS[kind]
    if kind == "hazard_escalated":
        level = str(data.get("level") or "")
        ask = ask.format(
            level=LEVEL_ZH.get(level, level or "上级"), why=WHY_ZH.get(data.get("why") or "", "")
        )
    estate = _estate_name(registry, data["estate"])
    what = data.get("description") or data.get("criterion") or ""
    deadline = f"，整改期限 {data['deadline'][:10]}" if data.get("deadline") else ""
    body = f"【{label}】{estate} 隐患 #{data['id']} {what}{deadline}：{ask}"
    return f"{label} {estate}", body
