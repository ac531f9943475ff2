-- Registry configuration and modes, schema references, security (tokens, grants, audit),
-- stream heads for freshness, and the stream that feeds a table.

-- Compatibility level and mode per scope: '' is the global scope, anything else a subject.
-- NULL means "not set here" (a subject then follows the global setting).
CREATE TABLE registry_config (
    scope TEXT PRIMARY KEY,
    compatibility TEXT,
    mode TEXT
);

-- Named types a schema takes from other subjects' versions.
CREATE TABLE schema_references (
    schema_id BIGINT NOT NULL REFERENCES schemas (id),
    name TEXT NOT NULL,
    subject TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (schema_id, name)
);
CREATE INDEX schema_references_by_target ON schema_references (subject, version);

-- Bearer tokens, stored as sha256; the token itself is shown once, when it is created.
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL,
    -- NULL for admin tokens, else the one domain the token acts for
    domain TEXT,
    description TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE UNIQUE INDEX tokens_by_hash ON tokens (token_hash);

-- Read access of consumer domains to products.
CREATE TABLE grants (
    product_id TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    consumer_domain TEXT NOT NULL REFERENCES domains (name),
    granted_by TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (product_id, consumer_domain)
);

-- Every mutation: who, what, when.
INSERT INTO sequences (name, next_value) VALUES ('audit_id', 1);
CREATE TABLE audit_log (
    id BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);

-- The newest offset of each partition as last reported (next offset to be written).
CREATE TABLE stream_heads (
    topic TEXT NOT NULL,
    partition_id BIGINT NOT NULL,
    head_offset BIGINT NOT NULL,
    reported_at BIGINT NOT NULL,
    PRIMARY KEY (topic, partition_id)
);

-- The stream whose events a sink writes into the table, when one does.
ALTER TABLE table_ports ADD COLUMN source_topic TEXT;
