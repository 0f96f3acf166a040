"""Collectors: transports (MQTT subscribe, Modbus poll) and decoders from wire formats to canonical models.

Each decoder lives in its own folder (``collectors/<name>/``) and is named in one table,
``collectors.decoders``; adding a device vendor is adding a folder and one line in that table. Decoders
depend only on the contract in ``collectors.base``. Transports never know the payload format: they are handed
a decoder.
"""
