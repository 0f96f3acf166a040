"""Collectors: transports (MQTT subscribe, Modbus poll) and decoders from wire formats to canonical models.

Each decoder lives in its own folder and registers itself by name (see ``collectors.base``); adding a
device vendor is adding a folder. Transports never know the payload format: they are handed a decoder.
"""
