-- wrk script: the catalog's mixed load, as domains and clients give it. Per thread, of every
-- ten requests: seven reads (schema by id, a subject's latest version, a product, its
-- health), one table-version registration (a new version each time), one stream-heads
-- report and one schema registration (the same schema again: the idempotent path through
-- the registry's lock). Set SCHEMA_ID in the environment.
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  n = 0
  ct = { ["Content-Type"] = "application/vnd.schemaregistry.v1+json" }
  schema_id = os.getenv("SCHEMA_ID") or "1"
  reads = {
    "/schemas/ids/" .. schema_id,
    "/subjects/bench.played-value/versions/latest",
    "/api/v1/products/bench.songs",
    "/api/v1/products/bench.songs/health",
  }
  played = '{"schema": "{\\"type\\":\\"record\\",\\"name\\":\\"Played\\",\\"fields\\":[{\\"name\\":\\"user_id\\",\\"type\\":\\"string\\"},{\\"name\\":\\"song_id\\",\\"type\\":\\"long\\"}]}"}'
end

function request()
  n = n + 1
  local slot = n % 10
  if slot < 7 then
    return wrk.format("GET", reads[slot % 4 + 1])
  elseif slot == 7 then
    -- Versions unique per thread: id * 10^9 + n.
    local version = id * 1000000000 + n
    local body = string.format('{"version": %d, "rows": %d, "bytes": 1000, "committed_at_ms": %d}',
      version, n, os.time() * 1000)
    return wrk.format("POST", "/api/v1/products/bench.songs/versions", ct, body)
  elseif slot == 8 then
    local body = string.format('[{"partition": 0, "offset": %d}, {"partition": 1, "offset": %d}]', n, n)
    return wrk.format("PUT", "/api/v1/streams/bench.played/heads", ct, body)
  else
    return wrk.format("POST", "/subjects/bench.played-value/versions", ct, played)
  end
end
