"""Exercise our catalog with python confluent-kafka's SchemaRegistryClient, AvroSerializer and
AvroDeserializer, as a Confluent user would. Prints one JSON document of what it saw.

usage: registry_client.py REGISTRY_URL SUBJECT_PREFIX [CA_FILE]

With CA_FILE (for an https:// registry) the client trusts only that certificate authority.
"""
import json
import sys

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

url, prefix = sys.argv[1], sys.argv[2]
conf = {"url": url}
if len(sys.argv) > 3:
    conf["ssl.ca.location"] = sys.argv[3]
topic = f"{prefix}.played"
subject = f"{topic}-value"

V1 = json.dumps({"type": "record", "name": "Played", "namespace": "mesh.py", "fields": [
    {"name": "user_id", "type": "string"},
    {"name": "song_id", "type": "long"},
]})
V2 = json.dumps({"type": "record", "name": "Played", "namespace": "mesh.py", "fields": [
    {"name": "user_id", "type": "string"},
    {"name": "song_id", "type": "long"},
    {"name": "device", "type": "string", "default": "unknown"},
]})
# Drops song_id without a default: FULL refuses it (old readers need song_id).
BREAKING = json.dumps({"type": "record", "name": "Played", "namespace": "mesh.py", "fields": [
    {"name": "user_id", "type": "string"},
    {"name": "device", "type": "string", "default": "unknown"},
]})

client = SchemaRegistryClient(conf)
out = {}


def refusal(call):
    try:
        call()
    except SchemaRegistryError as e:
        return {"http": e.http_status_code, "code": e.error_code, "message": e.error_message}
    return None


out["id1"] = client.register_schema(subject, Schema(V1, "AVRO"))
out["id1_again"] = client.register_schema(subject, Schema(V1, "AVRO"))
found = client.lookup_schema(subject, Schema(V1, "AVRO"))
out["lookup"] = {"id": found.schema_id, "version": found.version, "subject": found.subject}
out["compatible_v2"] = client.test_compatibility(subject, Schema(V2, "AVRO"))
out["id2"] = client.register_schema(subject, Schema(V2, "AVRO"))
latest = client.get_latest_version(subject)
out["latest"] = {"id": latest.schema_id, "version": latest.version}
out["versions"] = client.get_versions(subject)
out["subjects"] = [s for s in client.get_subjects() if s.startswith(prefix)]
client.set_compatibility(subject_name=subject, level="FULL")
out["subject_level"] = client.get_compatibility(subject_name=subject)
out["compatible_breaking"] = client.test_compatibility(subject, Schema(BREAKING, "AVRO"))
out["register_breaking"] = refusal(lambda: client.register_schema(subject, Schema(BREAKING, "AVRO")))
out["unknown_id"] = refusal(lambda: client.get_schema(987654))
out["unknown_subject"] = refusal(lambda: client.get_latest_version(f"{prefix}.nothing-value"))

# A serializer registering on the fly, a deserializer finding the schema by id.
serializer = AvroSerializer(client, V2, conf={"auto.register.schemas": True})
deserializer = AvroDeserializer(client)
ctx = SerializationContext(topic, MessageField.VALUE)
record = {"user_id": "u-7", "song_id": 42, "device": "speaker"}
payload = serializer(record, ctx)
out["wire_schema_id"] = int.from_bytes(payload[1:5], "big")
out["round_trip"] = deserializer(payload, ctx)
print(json.dumps(out))
