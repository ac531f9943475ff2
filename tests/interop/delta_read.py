"""Read a Delta table with python deltalake and print its version, the commit metadata of
that version and its rows (ordered by the first column) as one JSON document.

usage: delta_read.py TABLE_URI
"""
import json
import os
import sys

from deltalake import DeltaTable

table = DeltaTable(sys.argv[1])
rows = table.to_pyarrow_table().to_pylist()
first = table.schema().fields[0].name
rows.sort(key=lambda r: r[first])
history = table.history(1)
metadata = {k: v for k, v in history[0].items() if k.startswith("mesh.")} if history else {}
print(json.dumps({"version": table.version(), "metadata": metadata, "rows": rows}, default=str))
# deltalake 1.6's runtime threads abort the interpreter at exit ("terminate called without
# an active exception") after the work is done: leave without running the teardown.
sys.stdout.flush()
os._exit(0)
