-- How a product's writer changes its table (overwrite, append, merge) and the merge keys, as
-- its contract declares, so that `mesh contract diff` can show a change to them. NULL for
-- ports saved before this migration: their writers record them at their next save.
ALTER TABLE table_ports ADD COLUMN write_mode TEXT;
ALTER TABLE table_ports ADD COLUMN merge_keys_json TEXT;
