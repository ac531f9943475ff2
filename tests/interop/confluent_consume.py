"""Consume N events with python confluent-kafka and decode them with its AvroDeserializer
through the schema registry at REGISTRY_URL (our catalog). Prints one JSON line per event.

usage: confluent_consume.py BOOTSTRAP REGISTRY_URL TOPIC N
"""
import json
import sys
import time
import uuid

from confluent_kafka import Consumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

bootstrap, registry_url, topic, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
registry = SchemaRegistryClient({"url": registry_url})
deserialize = AvroDeserializer(registry)
consumer = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": f"interop-{uuid.uuid4()}",
    "auto.offset.reset": "earliest",
    "enable.auto.commit": False,
    "session.timeout.ms": 6000,
})
consumer.subscribe([topic])
seen = 0
deadline = time.monotonic() + 60
try:
    while seen < count:
        if time.monotonic() > deadline:
            sys.exit(f"only {seen} of {count} events within 60 s")
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            sys.exit(f"consumer error: {msg.error()}")
        payload = msg.value()
        value = deserialize(payload, SerializationContext(topic, MessageField.VALUE))
        print(json.dumps({
            "key": msg.key().decode() if msg.key() else None,
            "schema_id": int.from_bytes(payload[1:5], "big"),
            "headers": {k: v.decode() for k, v in (msg.headers() or [])},
            "value": value,
        }, default=str))
        seen += 1
finally:
    consumer.close()
