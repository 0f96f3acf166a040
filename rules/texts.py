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


def _window(seconds: float) -> str:
    """``26 小时`` for a smoke detector's window, ``10 分钟`` for a camera's."""
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} 分钟"
    hours = f"{seconds / 3600:.0f}" if seconds % 3600 == 0 else f"{seconds / 3600:.1f}"
    return f"{hours} 小时"


def _low_pressure_zh(v: float | None, detail: str, t: Thresholds, reading: str) -> str:
    if v is None:
        return "水压不足"
    what = "动压" if reading == "flowing" else "静压"
    if "urgent" in detail:  # the episode began with a sudden drop (rules/device_rules.py)
        below = f"，{what}低于下限 {t.pressure_min_mpa:.2f} MPa" if v < t.pressure_min_mpa else ""
        return f"水压骤降至 {v:.2f} MPa 且未恢复（紧急）{below}"
    if v < t.pressure_min_mpa:
        return f"{what} {v:.2f} MPa，低于下限 {t.pressure_min_mpa:.2f} MPa"
    if t.baseline_mpa > 0 and v < t.baseline_mpa * (1 - t.baseline_drop_share):
        share = f"{t.baseline_drop_share * 100:.0f}%"
        return f"{what} {v:.2f} MPa，比调试基准 {t.baseline_mpa:.2f} MPa 下降超过 {share}"
    return f"{what} {v:.2f} MPa，骤降后未恢复"


def signal_sentence_zh(change: SignalChange, t: Thresholds, reading: str = "static") -> str:
    """The Chinese sentence for a device signal; ``reading`` is the hydrant sensor's (static or flowing)."""
    v = change.value
    match change.signal:
        case SignalKind.HYDRANT_LOW_PRESSURE:
            return _low_pressure_zh(v, change.detail, t, reading)
        case SignalKind.HYDRANT_HIGH_PRESSURE:
            if v is None:
                return "水压过高"
            what = "动压" if reading == "flowing" else "静压"
            return f"{what} {v:.2f} MPa，高于上限 {t.pressure_max_mpa:.2f} MPa"
        case SignalKind.HYDRANT_PRESSURE_DROP:  # filed by older versions only
            return f"水压骤降至 {v:.2f} MPa" if v is not None else "水压骤降"
        case SignalKind.HYDRANT_SENSOR_FAULT:
            return "水压传感器故障"
        case SignalKind.HYDRANT_LEAK:
            return "检测到漏水"
        case SignalKind.COMM_FAULT:
            return "通信中断（Modbus 无应答）"
        case SignalKind.OFFLINE:
            return f"离线，超过 {_window(t.report_window_s + t.offline_grace_s)}未上报"
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
    """``消火栓 HY-E001-03（E001-B02，2号楼 30层 消火栓箱）：静压 0.02 MPa，低于下限 0.07 MPa``."""
    names = KIND_NAMES.get(language, KIND_NAMES["en"])
    label = names.get(device.kind, device.kind.value)
    if language == "zh":
        where = "，".join(x for x in (device.building_id, device.location) if x)
        text = signal_sentence_zh(change, t, device.reading)
        return f"{label} {device.id}" + (f"（{where}）" if where else "") + f"：{text}"
    where = ", ".join(x for x in (device.building_id, device.location) if x)
    detail = change.detail
    return f"{label} {device.id}" + (f" ({where})" if where else "") + (f": {detail}" if detail else "")
