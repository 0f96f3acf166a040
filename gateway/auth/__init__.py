"""Accounts, sessions, API tokens and roles: who may see which estates, and do what there.

- ``principal.py``: roles (消防救援大队 brigade, 街道/社区 office, 物业公司 property, 网格员 grid,
  只读 viewer), permissions, the account's scope (all, an area, a company) and the per-request ``Principal``;
- ``passwords.py``: argon2id hashes, the password policy, random passwords for the demo;
- ``store.py``: users, sessions and tokens in the hazard store's database;
- ``throttle.py``: failed sign-ins counted per account name and per client address, lock-outs and unlocks;
- ``service.py``: sign-in, sign-out, credentials to principal (used by ``gateway.api.deps``), and the
  re-check of a session that keeps a live feed open;
- ``cli.py``: ``firegw users ...`` and ``firegw tokens ...``.

The HTTP side is ``gateway/api/routers/auth.py`` and the dependencies in ``gateway/api/deps.py``.
"""
