"""MQTT transport: subscribes to the configured topics and hands each payload to the decoder its
subscription names. It knows topics and bytes, never payload formats."""

from collectors.mqtt.config import MqttConfig, MqttSubscription
from collectors.mqtt.transport import MqttCollector

__all__ = ["MqttCollector", "MqttConfig", "MqttSubscription"]
