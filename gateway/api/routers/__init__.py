"""One router per resource: estates, hazards, complaints (and fires), alarms, devices, meta."""
