"""Every simulated message decodes with the collectors' decoders.

The two sides are written independently from ``docs/wire-formats.md`` (the simulators never import
``collectors/``), so agreement here is evidence that both follow the spec.
"""

from __future__ import annotations

from simulator_helpers import TS

from simulators.devices.camera import CameraSim
from simulators.devices.factory import make_sim
from simulators.devices.smoke import SMOKE_EVENTS, SmokeDetectorSim
from simulators.fleet import generate_fleet


def test_simulated_messages_decode_with_the_independent_collectors() -> None:
    """Cross-check: the collectors (written separately from the same spec) accept every simulated message."""
    from collectors.decoders import make_decoder

    reg = generate_fleet(3, 30, 5, 4, 0.0, seed=5)
    decoders = {
        name: make_decoder(name)
        for name in ("smoke_json", "gbt45839_status", "ctwing", "hydrant_json", "camera_event")
    }
    records = 0
    for device in reg.devices:
        sim = make_sim(device, seed=5)
        fmt = device.wire_format
        msgs = sim.report(TS)
        if isinstance(sim, SmokeDetectorSim):
            for event in SMOKE_EVENTS[1:]:
                msgs += sim.act(event, TS + 1)
        elif isinstance(sim, CameraSim):
            msgs += sim.act("clear", TS + 1)
        for message in msgs:
            decoded = decoders[fmt].decode(message.topic, message.payload)
            assert decoded, (fmt, message)
            for record in decoded:
                assert reg.resolve(record.device_id) is not None, record.device_id
            records += len(decoded)
    assert records > 500
