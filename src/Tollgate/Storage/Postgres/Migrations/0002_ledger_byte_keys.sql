-- Tollgate schema, PostgreSQL dialect, version 2.
-- The ledger's text keys (request_id, the primary key, and key_id, leading the per-key index) compare byte by
-- byte ("C") instead of under the database's default collation. Both are ASCII identifiers, so equality and
-- their order are unchanged; what changes is the cost: under a linguistic collation (C.UTF-8, en_US.UTF-8) every
-- B-tree comparison goes through strcoll, about 12% of the server's CPU per ledger row. The SQLite dialect
-- compares bytes already.
-- Rebuilds the two indexes; on a large ledger this takes a while, once, under the migration lock.
ALTER TABLE ledger
    ALTER COLUMN request_id TYPE TEXT COLLATE "C",
    ALTER COLUMN key_id TYPE TEXT COLLATE "C";
