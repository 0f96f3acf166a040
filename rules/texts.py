"""Human sentences the server generates, in Chinese and English: device hazards and signals.

A device hazard's description is what a duty operator, a property manager and a resident reading the placard
see; it is written in their language from the structured signal (kind, measured value, thresholds), not
translated from the English ``detail`` the rules keep for engineers. The English sentence says the same for
the UI's English toggle. History lines (a hazard's transitions) are in ``rules/history_texts.py``.
"""

from __future__ import annotations

from gateway.models import Device, DeviceKind
from rules.model import SignalChange, SignalKind
from rules.thresholds import Thresholds

KIND_NAMES: dict[str, dict[DeviceKind, str]] = {
    "zh": {
        DeviceKind.SMOKE_DETECTOR: "烟感探测器",
        DeviceKind.HYDRANT: "消火栓",
        DeviceKind.CAMERA: "摄像头",
    },
    "en": {
        DeviceKind.SMOKE_DETECTOR: "smoke detector",
        DeviceKind.HYDRANT: "hydrant",
        DeviceKind.CAMERA: "camera",
    },
}


#: What each device signal is called on screen (the UI's catalogue has the same names: i18n.js ``sig.*``).
SIGNAL_NAMES: dict[SignalKind, tuple[str, str]] = {
    SignalKind.OFFLINE: ("离线", "offline"),
    SignalKind.DEVICE_FAULT: ("设备故障", "device fault"),
    SignalKind.TAMPER: ("探测器被拆除", "detector removed"),
    SignalKind.LOW_BATTERY: ("低电量未更换", "low battery not replaced"),
    SignalKind.COMM_FAULT: ("通信中断", "no communication"),
    SignalKind.HYDRANT_LOW_PRESSURE: ("水压不足", "low water pressure"),
    SignalKind.HYDRANT_HIGH_PRESSURE: ("水压过高", "water pressure too high"),
    SignalKind.HYDRANT_PRESSURE_DROP: ("水压骤降", "sudden pressure drop"),
    SignalKind.HYDRANT_SENSOR_FAULT: ("水压传感器故障", "pressure sensor fault"),
    SignalKind.HYDRANT_LEAK: ("漏水", "leak"),
    SignalKind.FIRE_LANE_OCCUPIED: ("消防车通道被占用", "fire lane occupied"),
    SignalKind.EVACUATION_BLOCKED: ("疏散通道或楼梯被堵塞", "evacuation route or stairs blocked"),
    SignalKind.EBIKE_IN_LIFT: ("电动自行车进入电梯或门厅", "e-bike taken into the lift or lobby"),
}


def signal_name(signal: str, language: str) -> str:
    """``水压不足`` for ``hydrant_low_pressure``; a signal this version does not know stays as written."""
    try:
        zh, en = SIGNAL_NAMES[SignalKind(signal)]
    except ValueError:
        return signal
    return zh if language == "zh" else en


def _window(seconds: float, language: str = "zh") -> str:
    """``26 小时`` for a smoke detector's window, ``10 分钟`` for a camera's."""
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} 分钟" if language == "zh" else f"{seconds / 60:.0f} min"
    hours = f"{seconds / 3600:.0f}" if seconds % 3600 == 0 else f"{seconds / 3600:.1f}"
    return f"{hours} 小时" if language == "zh" else f"{hours} h"


#: The words of the signal sentences, per language: ``signal_sentence`` fills them in.
_WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "static": "静压", "flowing": "动压",
        "urgent": "水压骤降至 {v:.2f} MPa 且未恢复（紧急）", "urgent_below": "，{what}低于下限 {min:.2f} MPa",
        "below": "{what} {v:.2f} MPa，低于下限 {min:.2f} MPa",
        "baseline": "{what} {v:.2f} MPa，比调试基准 {base:.2f} MPa 下降超过 {share}",
        "still_down": "{what} {v:.2f} MPa，骤降后未恢复",
        "above": "{what} {v:.2f} MPa，高于上限 {max:.2f} MPa",
        "dropped": "水压骤降至 {v:.2f} MPa",
        "comm_fault": "通信中断（Modbus 无应答）",
        "offline": "离线，超过 {window}未上报",
        "shielded": "设备被屏蔽",
        "battery": "电量 {v:.0f}%，", "low_battery": "{level}低电量超过 {days:g} 天未更换",
        "lane_repeated": "消防车通道多次被占用",
        "leak": "检测到漏水",
    },
    "en": {
        "static": "static pressure", "flowing": "flowing pressure",
        "urgent": "pressure dropped suddenly to {v:.2f} MPa and stayed down (urgent)",
        "urgent_below": ", {what} below the minimum {min:.2f} MPa",
        "below": "{what} {v:.2f} MPa, below the minimum {min:.2f} MPa",
        "baseline": "{what} {v:.2f} MPa, more than {share} below the commissioning baseline {base:.2f} MPa",
        "still_down": "{what} {v:.2f} MPa, still down after a sudden drop",
        "above": "{what} {v:.2f} MPa, above the maximum {max:.2f} MPa",
        "dropped": "pressure dropped suddenly to {v:.2f} MPa",
        "comm_fault": "no communication (Modbus unit not answering)",
        "offline": "offline: nothing heard for more than {window}",
        "shielded": "device shielded",
        "battery": "battery {v:.0f}%, ",
        "low_battery": "{level}low battery not replaced for more than {days:g} days",
        "lane_repeated": "fire lane occupied repeatedly",
        "leak": "leak detected",
    },
}  # fmt: skip


def _low_pressure(v: float, detail: str, t: Thresholds, what: str, w: dict[str, str]) -> str:
    if "urgent" in detail:  # the episode began with a sudden drop (rules/device_rules.py)
        below = w["urgent_below"].format(what=what, min=t.pressure_min_mpa) if v < t.pressure_min_mpa else ""
        return w["urgent"].format(v=v) + below
    if v < t.pressure_min_mpa:
        return w["below"].format(what=what, v=v, min=t.pressure_min_mpa)
    if t.baseline_mpa > 0 and v < t.baseline_mpa * (1 - t.baseline_drop_share):
        share = f"{t.baseline_drop_share * 100:.0f}%"
        return w["baseline"].format(what=what, v=v, base=t.baseline_mpa, share=share)
    return w["still_down"].format(what=what, v=v)


def signal_sentence(
    change: SignalChange, t: Thresholds, reading: str = "static", language: str = "zh"
) -> str:
    """The sentence for a device signal in ``language`` (zh, en); ``reading`` is the hydrant sensor's
    (static or flowing). Without a measured value, or for a signal whose name says it all, its name."""
    v, w = change.value, _WORDS["zh" if language == "zh" else "en"]
    what = w["flowing"] if reading == "flowing" else w["static"]
    match change.signal:
        case SignalKind.HYDRANT_LOW_PRESSURE if v is not None:
            return _low_pressure(v, change.detail, t, what, w)
        case SignalKind.HYDRANT_HIGH_PRESSURE if v is not None:
            return w["above"].format(what=what, v=v, max=t.pressure_max_mpa)
        case SignalKind.HYDRANT_PRESSURE_DROP if v is not None:  # filed by older versions only
            return w["dropped"].format(v=v)
        case SignalKind.COMM_FAULT:
            return w["comm_fault"]
        case SignalKind.OFFLINE:
            return w["offline"].format(window=_window(t.report_window_s + t.offline_grace_s, language))
        case SignalKind.DEVICE_FAULT if "shielded" in change.detail:
            return w["shielded"]
        case SignalKind.LOW_BATTERY:
            level = w["battery"].format(v=v) if v is not None else ""
            return w["low_battery"].format(level=level, days=t.low_battery_hold_s / 86_400)
        case SignalKind.FIRE_LANE_OCCUPIED if "times" in change.detail:
            return w["lane_repeated"]
        case SignalKind.HYDRANT_LEAK:
            return w["leak"]
    return signal_name(change.signal, language)


def signal_sentence_zh(change: SignalChange, t: Thresholds, reading: str = "static") -> str:
    """The Chinese sentence for a device signal (``signal_sentence``)."""
    return signal_sentence(change, t, reading, "zh")


def signal_text(change: SignalChange, t: Thresholds, reading: str = "static") -> dict[str, str]:
    """``{"zh": ..., "en": ...}``: a signal as the UI shows it, in either language."""
    return {"zh": signal_sentence(change, t, reading, "zh"), "en": signal_sentence(change, t, reading, "en")}


def describe(device: Device, change: SignalChange, t: Thresholds, language: str) -> str:
    """``消火栓 HY-E001-03（E001-B02，2号楼 30层 消火栓箱）：静压 0.02 MPa，低于下限 0.07 MPa``."""
    names = KIND_NAMES.get(language, KIND_NAMES["en"])
    label = names.get(device.kind, device.kind.value)
    if language == "zh":
        where = "，".join(x for x in (device.building_id, device.location) if x)
        text = signal_sentence(change, t, device.reading, "zh")
        return f"{label} {device.id}" + (f"（{where}）" if where else "") + f"：{text}"
    where = ", ".join(x for x in (device.building_id, device.location) if x)
    text = signal_sentence(change, t, device.reading, "en")
    return f"{label} {device.id}" + (f" ({where})" if where else "") + f": {text}"


def stored_description_en(device: Device, signal: str, value: float | None) -> str:
    """A device hazard's description in English, rebuilt from what its record keeps (device, signal,
    value): the stored description is in the policy's language, written when the hazard opened."""
    label = KIND_NAMES["en"].get(device.kind, device.kind.value)
    where = ", ".join(x for x in (device.building_id, device.location) if x)
    what = signal_name(signal, "en")
    if value is not None and signal in (SignalKind.HYDRANT_LOW_PRESSURE, SignalKind.HYDRANT_HIGH_PRESSURE):
        what += f": {value:.2f} MPa"
    elif value is not None and signal == SignalKind.LOW_BATTERY:
        what += f": battery {value:.0f}%"
    return f"{label} {device.id}" + (f" ({where})" if where else "") + f": {what}"
