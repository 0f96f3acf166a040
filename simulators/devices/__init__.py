"""Simulated devices: state plus the messages a real device of that kind would send.

One module per device family, plus what they share:

* ``base`` – what every simulated device is (``DeviceSim``: identity, random stream, seq, online flag), the
  ``Message`` / ``FollowUp`` it hands back and how scenario actions and their parameters are checked.
* ``encoding`` – how payloads are written on the wire: compact UTF-8 JSON, China Standard Time.
* ``smoke`` – NB-IoT smoke detectors (``smoke_json``, ``gbt45839_status``, ``ctwing``).
* ``hydrant`` – hydrant pressure sensors, on a DTU (``hydrant_json``) or polled over Modbus.
* ``camera`` – fire-lane / stairwell / lift cameras (``camera_event``).
* ``factory`` – which simulator models a registry device, and how often each kind reports.

Every encoder is written from ``docs/wire-formats.md`` on purpose and imports nothing from ``collectors/``:
if the decoders and the simulators shared code, a decoding bug would be reproduced on both sides and no test
would see it. Golden-file tests pin both sides to the same documented bytes.
"""
