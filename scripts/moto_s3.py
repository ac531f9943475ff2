"""moto's S3 server, serving one request at a time.

moto checks a conditional PUT's `If-None-Match: *` and stores the object in two steps without
a lock, so its threaded server (`moto_server`) can let two writers racing to create one key
both succeed. Delta's commits rely on exactly one winning, as on S3; served one request at a
time, moto's check-then-store is atomic.

usage: moto_s3.py HOST PORT
"""
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

run_simple(sys.argv[1], int(sys.argv[2]), DomainDispatcherApplication(create_backend_app),
           threaded=False, use_reloader=False)
