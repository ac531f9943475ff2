"""What a tansu broker on SQLite storage holds for a topic, read from its database (the
broker stopped): records, and distinct `mesh-event-id` headers. A count independent of any
Kafka client: after a `kill -9` and restart, tansu 0.6 answers fetches of records written
before the restart with nothing (they are in its database; its watermarks say so).
Prints one JSON object.

usage: tansu_stored.py DATABASE TOPIC
"""
import json
import sqlite3
import sys

database, topic = sys.argv[1], sys.argv[2]
db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
records = db.execute(
    "SELECT COUNT(*) FROM record r JOIN topition tp ON tp.id = r.topition "
    "JOIN topic t ON t.id = tp.topic WHERE t.name = ?", (topic,)).fetchone()[0]
distinct = db.execute(
    "SELECT COUNT(DISTINCT h.v) FROM header h JOIN topition tp ON tp.id = h.topition "
    "JOIN topic t ON t.id = tp.topic WHERE t.name = ? AND CAST(h.k AS TEXT) = 'mesh-event-id'",
    (topic,)).fetchone()[0]
print(json.dumps({"messages": records, "distinct": distinct}))
