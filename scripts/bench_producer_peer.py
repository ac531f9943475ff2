"""The Python peer of the producer benchmark: the same work as benches/producer.rs, done with
python confluent-kafka (+ fastavro through its AvroSerializer) and python deltalake.
Prints one JSON object per measure, like the Rust side.

usage: bench_producer_peer.py BOOTSTRAP REGISTRY_URL LAKE_DIR EVENTS ROWS APPENDS
"""
import json
import os
import sys
import time
import uuid

import pyarrow as pa
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from deltalake import write_deltalake

bootstrap, registry_url, lake, events, rows, appends = sys.argv[1:7]
events, rows, appends = int(events), int(rows), int(appends)

EVENT = json.dumps({"type": "record", "name": "Played", "namespace": "bench", "fields": [
    {"name": "user_id", "type": "string"}, {"name": "song_id", "type": "long"},
    {"name": "ms_played", "type": "int"},
    {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "device", "type": {"type": "enum", "name": "Device", "symbols": ["MOBILE", "DESKTOP", "SPEAKER", "WEB"]}},
    {"name": "country", "type": "string"}, {"name": "shuffle", "type": "boolean"},
    {"name": "volume", "type": "double"}, {"name": "session_id", "type": "string"},
    {"name": "context", "type": ["null", "string"], "default": None},
]})
DEVICES = ["MOBILE", "DESKTOP", "SPEAKER", "WEB"]


def event(i):
    return {
        "user_id": f"user-{i % 10000}", "song_id": i % 50000, "ms_played": i % 300000,
        "at": 1_700_000_000_000 + i, "device": DEVICES[i % 4], "country": "FR",
        "shuffle": i % 2 == 0, "volume": 0.75, "session_id": f"s-{i // 20}",
        "context": "playlist:focus" if i % 3 == 0 else None,
    }


def report(measure, value, unit, extra=None):
    print(json.dumps({"side": "python", "measure": measure, "value": value, "unit": unit, "extra": extra or {}}), flush=True)
    print(f"python {measure:<34} {value:>14.0f} {unit} {extra or {}}", file=sys.stderr, flush=True)


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


topic = f"peer{uuid.uuid4().hex[:8]}.played"
registry = SchemaRegistryClient({"url": registry_url})
serialize = AvroSerializer(registry, EVENT, conf={"auto.register.schemas": True})
ctx = SerializationContext(topic, MessageField.VALUE)
records = [event(i) for i in range(events)]

serialize(records[0], ctx)
started = time.perf_counter()
for r in records:
    serialize(r, ctx)
report("validate_encode_serde", events / (time.perf_counter() - started), "records/s", {"threads": 1, "via": "AvroSerializer (fastavro)"})

schema_id = str(registry.get_latest_version(f"{topic}-value").schema_id).encode()


def publish(with_headers):
    """Acknowledged events/s. With headers, the same work as the mesh's publisher: a fresh
    event id, the producer domain, the schema id and the produced-at time on every event."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                         "linger.ms": 5, "compression.type": "lz4"})
    acked = 0

    def on_delivery(err, msg):
        nonlocal acked
        if err is None:
            acked += 1

    started = time.perf_counter()
    for r in records:
        headers = None
        if with_headers:
            headers = [("mesh-event-id", str(uuid.uuid4()).encode()), ("mesh-producer-domain", b"peer"),
                       ("mesh-schema-id", schema_id), ("mesh-produced-at", str(int(time.time() * 1000)).encode())]
        while True:
            try:
                producer.produce(topic, key=r["user_id"], value=serialize(r, ctx), headers=headers,
                                 on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    producer.flush(60)
    return acked / (time.perf_counter() - started)


report("publish_acknowledged", publish(True), "events/s",
       {"broker": "external", "headers": "event id, domain, schema id, produced-at, as the mesh sends"})
report("publish_acknowledged_no_headers", publish(False), "events/s",
       {"broker": "external", "headers": "none (less work than the mesh's publisher does)"})

ids = list(range(rows))
table = pa.table({
    "user_id": [f"user-{i % 10000}" for i in ids], "song_id": [i % 50000 for i in ids],
    "ms_played": pa.array([i % 300000 for i in ids], pa.int32()), "at": [1_700_000_000_000 + i for i in ids],
    "country": ["FR"] * rows, "volume": [0.75] * rows,
})
path = os.path.join(lake, "peer_plays")
started = time.perf_counter()
write_deltalake(path, table, mode="overwrite")
report("snapshot_bulk", rows / (time.perf_counter() - started), "rows/s", {"rows": rows})

path = os.path.join(lake, "peer_appends")
latencies = []
for a in range(appends):
    ids = range(a * 1000, a * 1000 + 1000)
    chunk = pa.table({
        "user_id": [f"user-{i % 10000}" for i in ids], "song_id": [i % 50000 for i in ids],
        "ms_played": pa.array([i % 300000 for i in ids], pa.int32()), "at": [1_700_000_000_000 + i for i in ids],
        "country": ["FR"] * 1000, "volume": [0.75] * 1000,
    })
    started = time.perf_counter()
    write_deltalake(path, chunk, mode="append")
    latencies.append((time.perf_counter() - started) * 1000)
window = max(1, appends // 6)
first, last = latencies[:window], latencies[-window:]
report("append_commit_latency", percentile(last, 50), "ms (p50, last commits)", {
    "appends": appends, "window": window,
    "first_p50_ms": percentile(first, 50), "first_p99_ms": percentile(first, 99),
    "last_p50_ms": percentile(last, 50), "last_p99_ms": percentile(last, 99),
    "window_p50_ms": [percentile(latencies[i:i + window], 50) for i in range(0, window * 6, window)],
})
sys.stdout.flush()
# deltalake's runtime aborts the interpreter at exit after the work is done (see delta_read.py).
os._exit(0)
