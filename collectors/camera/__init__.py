"""Fire-lane / evacuation-route camera events (docs/wire-formats.md section 6): ``camera_event``.

Cameras with on-board detection report occurrences, not measurements: an occupied fire lane, a blocked
stairwell, an e-bike in a lift, each as a start and an end message sharing one ``event_id``. Every message
becomes one ``DeviceEvent`` carrying that state, so the rules can measure how long an occupation lasted.
Vendor dialects (Hikvision ``eventState``, Dahua ``nAction``) belong in their own decoder folders; this one
reads the canonical form only.
"""

from collectors.camera.decoder import CameraEventDecoder, CameraEventOptions

__all__ = ["CameraEventDecoder", "CameraEventOptions"]
