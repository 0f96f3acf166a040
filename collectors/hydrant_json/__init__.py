"""Hydrant pressure sensor JSON from a 4G/NB DTU (docs/wire-formats.md section 4): ``hydrant_json``.

Some hydrant sensors are not on an RS-485 line the gateway can poll but behind a DTU that publishes JSON. This
decoder yields exactly the reading the Modbus register map yields (same metric names, the same four status
bits, always present), so rules never need to know how a hydrant is connected.
"""

from collectors.hydrant_json.decoder import HydrantJsonDecoder, HydrantJsonOptions

__all__ = ["HydrantJsonDecoder", "HydrantJsonOptions"]
