"""Native NB-IoT smoke detector JSON (docs/wire-formats.md section 1), decoder ``smoke_json``.

Detectors that publish straight to our broker send one small JSON object per event on
``fire/smoke/{device_id}/up``. A heartbeat becomes a ``Reading`` (battery, signal) so that health and
offline detection have a time series; every other event becomes a ``DeviceEvent`` so that alarms and faults
take the priority lane.
"""

from collectors.smoke_json.decoder import SmokeJsonDecoder, SmokeJsonOptions

__all__ = ["SmokeJsonDecoder", "SmokeJsonOptions"]
