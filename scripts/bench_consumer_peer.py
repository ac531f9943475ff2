"""The Python peer of the consumer benchmark: decode the same payloads with python
confluent-kafka's AvroDeserializer (fastavro) and hand each to a no-op handler.

usage: bench_consumer_peer.py PAYLOAD_FILE REGISTRY_URL
"""
import json
import struct
import sys
import time

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

path, registry_url = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
payloads = []
i = 0
while i < len(data):
    (n,) = struct.unpack(">I", data[i:i + 4])
    payloads.append(data[i + 4:i + 4 + n])
    i += 4 + n

deserialize = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))
ctx = SerializationContext("bench.played", MessageField.VALUE)


def handler(value):
    return value


deserialize(payloads[0], ctx)
started = time.perf_counter()
for p in payloads:
    handler(deserialize(p, ctx))
rate = len(payloads) / (time.perf_counter() - started)
print(json.dumps({"side": "python", "measure": "decode_handle", "value": rate, "unit": "events/s",
                  "extra": {"threads": 1, "via": "AvroDeserializer (fastavro)"}}))
print(f"python decode_handle {rate:>14.0f} events/s", file=sys.stderr)
