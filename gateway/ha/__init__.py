"""High availability: active/standby gateways on one PostgreSQL store (``[ha]``; README, "Running more
than one gateway").

- ``lease``: the partition lease, a row per partition in PostgreSQL renewed by a heartbeat (its docstring
  says why not an advisory lock);
- ``standby``: ``ActiveStandby`` stands by until this gateway holds the lease, runs the gateway's active
  part while it does, and stops it at once when the lease is lost.

Partitions: the gateways configured with the same ``[ha] partition`` stand in for each other, and exactly
one of them is active. A partition is a set of estates; its gateways share the registry of those estates'
devices, topic filters that match only those devices' topics, and one ``[mqtt] client_id`` (the persistent
session a standby takes over). Devices that publish per district (``d01/fire/smoke/+/up``,
``d02/fire/smoke/+/up``) make one partition per district with the filter ``d01/fire/smoke/+/up``, and so
on. Several partitions run side by side, each with its own lease row, active gateway and standbys, on one
PostgreSQL store and one broker. One gateway process serves one partition.
"""

from gateway.ha.lease import Claim, Lease
from gateway.ha.standby import ActiveStandby, LeaseLost

__all__ = ["ActiveStandby", "Claim", "Lease", "LeaseLost"]
