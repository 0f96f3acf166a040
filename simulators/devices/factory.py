"""Which simulator models a registry device, and how often each kind of device reports.

The one place that knows every device family: the scenario runner, the scenario loader (to check an incident
against the right simulator class) and the burst generator build their simulators here.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.models import Device, DeviceKind
from simulators.devices.base import DeviceSim
from simulators.devices.camera import CameraSim
from simulators.devices.hydrant import HydrantDtuSim, HydrantModbusSim, ModbusUnits
from simulators.devices.smoke import SmokeDetectorSim


@dataclass(frozen=True)
class ReportIntervals:
    """How often each kind of device reports, in simulated seconds.

    Defaults are what real devices do: a smoke detector heartbeat once a day (GB/T 45839-2025 requires a
    signal-quality report at least every 24 h), hydrant DTUs every 5 minutes, Modbus registers refreshed
    every minute (the gateway polls at ``poll_interval_s``), and a camera's harmless background detections
    (a car stopping briefly on the fire lane) about once an hour. ``camera_event_s = 0`` disables those.
    """

    smoke_heartbeat_s: float = 86_400.0
    hydrant_report_s: float = 300.0
    modbus_update_s: float = 60.0
    camera_event_s: float = 3_600.0


SIM_CLASSES: dict[str, type[DeviceSim]] = {
    "smoke": SmokeDetectorSim,
    "hydrant_json": HydrantDtuSim,
    "hydrant_modbus": HydrantModbusSim,
    "camera": CameraSim,
}


def sim_class_for(device: Device) -> type[DeviceSim]:
    """Which simulator class models ``device`` (Modbus hydrants are those with a Modbus address)."""
    if device.kind is DeviceKind.SMOKE_DETECTOR:
        return SmokeDetectorSim
    if device.kind is DeviceKind.HYDRANT:
        return HydrantModbusSim if device.modbus is not None else HydrantDtuSim
    return CameraSim


def make_sim(
    device: Device,
    *,
    seed: int = 0,
    intervals: ReportIntervals | None = None,
    modbus: ModbusUnits | None = None,
) -> DeviceSim:
    """The simulator for one registry device, with the scenario's reporting interval for its kind."""
    iv = intervals or ReportIntervals()
    cls = sim_class_for(device)
    if cls is SmokeDetectorSim:
        return SmokeDetectorSim(device, seed=seed, interval_s=iv.smoke_heartbeat_s)
    if cls is HydrantModbusSim:
        return HydrantModbusSim(device, modbus, seed=seed, interval_s=iv.modbus_update_s)
    if cls is HydrantDtuSim:
        return HydrantDtuSim(device, seed=seed, interval_s=iv.hydrant_report_s)
    return CameraSim(device, seed=seed, interval_s=iv.camera_event_s)
