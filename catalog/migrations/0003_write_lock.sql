-- The lock every writing transaction takes first on SQLite (see Store::begin_write).
INSERT INTO locks (name, generation) VALUES ('writes', 0);
