"""Human sentences for device hazards, in the policy's language (Chinese by default).

A device hazard's description is what a duty operator, a property manager and a resident reading the placard
see; it is written in their language from the structured signal (kind, measured value, thresholds), not
translated from the English ``detail`` the rules keep for engineers.
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


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.0f}" if seconds % 3600 == 0 else f"{seconds / 3600:.1f}"


def signal_sentence_zh(change: SignalChange, t: Thresholds) -> str:
    v = change.value
    match change.signal:
        case SignalKind.HYDRANT_LOW_PRESSURE:
            return f"水压 {v:.2f} MPa，低于下限 {t.pressure_min_mpa:.2f} MPa" if v is not None else "水压过低"
        case SignalKind.HYDRANT_HIGH_PRESSURE:
            return f"水压 {v:.2f} MPa，高于上限 {t.pressure_max_mpa:.2f} MPa" if v is not None else "水压过高"
        case SignalKind.HYDRANT_PRESSURE_DROP:
            return f"水压骤降至 {v:.2f} MPa" if v is not None else "水压骤降"
        case SignalKind.HYDRANT_SENSOR_FAULT:
            return "水压传感器故障"
        case SignalKind.HYDRANT_LEAK:
            return "检测到漏水"
        case SignalKind.COMM_FAULT:
            return "通信中断（Modbus 无应答）"
        case SignalKind.OFFLINE:
            window = t.report_window_s + t.offline_grace_s
            return f"离线，超过 {_hours(window)} 小时未上报"
        case SignalKind.DEVICE_FAULT:
            return "设备被屏蔽" if "shielded" in change.detail else "设备故障"
        case SignalKind.TAMPER:
            return "探测器被拆除"
        case SignalKind.LOW_BATTERY:
            days = t.low_battery_hold_s / 86_400
            level = f"电量 {v:.0f}%，" if v is not None else ""
            return f"{level}低电量超过 {days:g} 天未更换"
        case SignalKind.FIRE_LANE_OCCUPIED:
            return "消防车通道多次被占用" if "times" in change.detail else "消防车通道被占用"
        case SignalKind.EVACUATION_BLOCKED:
            return "疏散通道或楼梯被堵塞"
        case SignalKind.EBIKE_IN_LIFT:
            return "电动自行车进入电梯或门厅"
    return change.detail  # pragma: no cover - every signal kind is listed above


def describe(device: Device, change: SignalChange, t: Thresholds, language: str) -> str:
    """``消火栓 HY-E001-03（E001-B02，2号楼 30层 消火栓箱）：水压 0.02 MPa，低于下限 0.07 MPa``."""
    names = KIND_NAMES.get(language, KIND_NAMES["en"])
    label = names.get(device.kind, device.kind.value)
    if language == "zh":
        where = "，".join(x for x in (device.building_id, device.location) if x)
        text = signal_sentence_zh(change, t)
        return f"{label} {device.id}" + (f"（{where}）" if where else "") + f"：{text}"
    where = ", ".join(x for x in (device.building_id, device.location) if x)
    detail = change.detail
    return f"{label} {device.id}" + (f" ({where})" if where else "") + (f": {detail}" if detail else "")
