-- The first catalog: the schema registry's schemas and subject versions, domains, data
-- products with their stream and table ports, and registered table versions.
--
-- The same file runs on SQLite and Postgres: only TEXT and BIGINT columns, times as
-- milliseconds since the Unix epoch, JSON kept as TEXT.

-- Counters that must never hand out a value twice, even after deletes.
CREATE TABLE sequences (
    name TEXT PRIMARY KEY,
    next_value BIGINT NOT NULL
);
INSERT INTO sequences (name, next_value) VALUES ('schema_id', 1);

-- One row per lock name; writers update their row first so that registrations
-- serialize on both backends (see store.rs).
CREATE TABLE locks (
    name TEXT PRIMARY KEY,
    generation BIGINT NOT NULL
);
INSERT INTO locks (name, generation) VALUES ('registry', 0);

-- Every distinct schema ever registered. Ids are global: the same schema registered under
-- two subjects has one id.
CREATE TABLE schemas (
    id BIGINT PRIMARY KEY,
    schema_type TEXT NOT NULL,
    schema_text TEXT NOT NULL,
    -- sha256 of the type, the canonical JSON of the schema and its references
    fingerprint TEXT NOT NULL,
    references_json TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX schemas_by_fingerprint ON schemas (fingerprint);

-- The versions of each subject; versions are never reused within a subject.
CREATE TABLE subject_versions (
    subject TEXT NOT NULL,
    version BIGINT NOT NULL,
    schema_id BIGINT NOT NULL REFERENCES schemas (id),
    -- 1 once soft-deleted
    deleted BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (subject, version)
);
CREATE INDEX subject_versions_by_schema ON subject_versions (schema_id);

CREATE TABLE domains (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE products (
    -- '<domain>.<product>'
    id TEXT PRIMARY KEY,
    domain TEXT NOT NULL REFERENCES domains (name),
    description TEXT NOT NULL,
    tags_json TEXT NOT NULL,
    -- the SLA, NULL when none
    max_staleness_secs BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX products_by_domain ON products (domain);

CREATE TABLE stream_ports (
    product_id TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    topic TEXT NOT NULL,
    value_subject TEXT NOT NULL,
    key_subject TEXT,
    PRIMARY KEY (product_id, topic)
);

CREATE TABLE table_ports (
    product_id TEXT PRIMARY KEY REFERENCES products (id) ON DELETE CASCADE,
    uri TEXT NOT NULL,
    partition_columns_json TEXT NOT NULL
);

CREATE TABLE table_versions (
    product_id TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    delta_version BIGINT NOT NULL,
    row_count BIGINT NOT NULL,
    byte_count BIGINT NOT NULL,
    schema_id BIGINT,
    -- [{"topic": ..., "partition": ..., "offset": ...}], next-to-read offsets
    offsets_json TEXT NOT NULL,
    committed_at BIGINT NOT NULL,
    registered_at BIGINT NOT NULL,
    PRIMARY KEY (product_id, delta_version)
);
