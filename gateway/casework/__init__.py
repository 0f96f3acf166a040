"""Casework: what the gateway does with device signals and people's reports between the rules and the store.

``engine.RuleEngine`` coordinates; ``hazards``, ``alarms`` and ``incidents`` handle each kind of case;
``grades`` derives and publishes estate grades; ``fleet`` and ``index`` hold what grading reads; ``redo``
keeps what the store lost; ``sync`` takes in other gateways' changes; ``outbox``, ``points``, ``payloads``
and ``publisher`` are how results leave. The domain rules themselves are in ``rules/`` (pure, no I/O).
"""
