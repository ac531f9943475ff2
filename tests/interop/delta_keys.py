"""Count a Delta table's rows and distinct values of a key column with python deltalake, and
read the application transactions (exactly-once offsets) it holds.

usage: delta_keys.py TABLE_URI KEY_COLUMN APP_ID...
"""
import json
import os
import sys

from deltalake import DeltaTable

table = DeltaTable(sys.argv[1])
keys = table.to_pyarrow_table(columns=[sys.argv[2]]).column(0).to_pylist()
print(json.dumps({
    "version": table.version(),
    "rows": len(keys),
    "distinct": len(set(keys)),
    "keys": sorted(set(keys)),
    "transactions": {app: table.transaction_version(app) for app in sys.argv[3:]},
}))
sys.stdout.flush()
# deltalake's runtime aborts the interpreter at exit after the work is done (see delta_read.py).
os._exit(0)
