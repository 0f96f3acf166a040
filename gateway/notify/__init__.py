"""Messages to people: alarms to the people on duty, escalations, hazards to their party (Apprise URLs).

- ``notifier``: ``Notifier``, fed by the engine's outbox, delivering from threads of its own;
- ``queue``: the waiting messages per channel, alarms first, within each channel's rate limit;
- ``routes``: who a message goes to (``[notify]`` lists, the parties' channels) and finding a URL again;
- ``recovery``: what a start or takeover owes (queued rows, alarms never pushed, escalations);
- ``channels``: one delivery through Apprise, with its reason on failure; URLs scrubbed of secrets;
- ``messages``: the Chinese text of each message.
"""

from gateway.notify.notifier import Notifier, NotifyCounters

__all__ = ["Notifier", "NotifyCounters"]
