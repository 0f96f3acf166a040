"""Fire-lane / evacuation-route cameras (docs/wire-formats.md section 6): ``camera_event``.

Cameras with on-board detection report occurrences, not measurements: an occupied fire lane, a blocked
stairwell, an e-bike in a lift, each as a start and an end message sharing one ``event_id``. Every such
message becomes one ``DeviceEvent`` carrying that state, so the rules can measure how long an occupation
lasted. Between detections a camera sends keep-alives (``"type": "heartbeat"``), decoded as a ``Reading``
(``alive = true``): they are what tells a quiet fire lane from a camera that is gone.
Vendor dialects (Hikvision ``eventState`` and its ``videoloss``/``inactive`` or ``heartBeat`` keep-alives,
Dahua ``nAction`` and its ``Heartbeat`` lines) belong in their own decoder folders or in the bridge that
forwards them; this one reads the canonical form only.
"""

from collectors.camera.decoder import CameraEventDecoder, CameraEventOptions

__all__ = ["CameraEventDecoder", "CameraEventOptions"]
