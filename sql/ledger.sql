--
-- The ledger (src/ledger.c, docs/ledger.md): every journal and DDL log row
-- is hash-chained; verify_ledger() walks the chain and names the first row
-- that was changed, deleted or reordered; status().ledger_ok checks the
-- recent end; a head taken from outside (the server log) catches a chain
-- that was recomputed.  The 2PC part needs max_prepared_transactions > 0.
--
CREATE DATABASE regress_ledger;
\c regress_ledger
CREATE EXTENSION schemamig;
\set VERBOSITY terse

-- a history: an upgrade(), a begin_revision() and an unversioned change
SELECT schemamig.register('l1', 'CREATE TABLE l1 (id int); COMMENT ON TABLE l1 IS ''one'';',
                          'DROP TABLE l1;');
SELECT revision FROM schemamig.upgrade();
BEGIN;
SELECT schemamig.begin_revision('l2');
CREATE TABLE l2 (id int);
COMMIT;
SET schemamig.guard = warn;
CREATE TABLE adhoc (id int);
RESET schemamig.guard;

-- every row carries its transaction's batch and an 8-byte locator (the SHA-256
-- over its batch's rows is in the link)
SELECT 'ddl_log' AS t, id, ledger_batch, length(ledger_hash) AS hash_len FROM schemamig.ddl_log
UNION ALL
SELECT 'journal', id, ledger_batch, length(ledger_hash) FROM schemamig.journal
ORDER BY 1, 2;
-- one link per committed transaction, each over the one before
SELECT seq, batch, ddl_rows, ddl_first, journal_rows, journal_first, unversioned,
       prev = coalesce(lag(hash) OVER (ORDER BY seq), '\x'::bytea || decode(repeat('00', 32), 'hex'))
         AS follows,
       length(hash) AS hash_len, xid IS NOT NULL AS has_xid
  FROM schemamig.ledger ORDER BY seq;
SELECT ok, checked, regexp_replace(detail, '[0-9a-f]{64}', '<sha256>') AS detail
  FROM schemamig.verify_ledger();
SELECT ledger_ok FROM schemamig.status();

-- A subtransaction that rolls back takes its rows out of the chain too
BEGIN;
SELECT schemamig.begin_revision('l3');
CREATE TABLE l3a (id int);
SAVEPOINT s;
CREATE TABLE l3b (id int);
ROLLBACK TO SAVEPOINT s;
CREATE TABLE l3c (id int);
COMMIT;
SELECT seq, ddl_rows, journal_rows FROM schemamig.ledger ORDER BY seq DESC LIMIT 1;
SELECT ok, checked FROM schemamig.verify_ledger();

-- A superuser can switch the append-only triggers off; whatever is then
-- changed is reported.  Each case runs in a subtransaction that is rolled
-- back, with schemamig.restoring on so the tampering itself is not logged.
CREATE FUNCTION pg_temp.tamper(sql text)
RETURNS TABLE (ok boolean, detail text, ledger_ok boolean)
LANGUAGE plpgsql AS $$
BEGIN
  SET LOCAL schemamig.restoring = on;
  ALTER TABLE schemamig.ddl_log DISABLE TRIGGER USER;
  ALTER TABLE schemamig.journal DISABLE TRIGGER USER;
  ALTER TABLE schemamig.ledger DISABLE TRIGGER USER;
  EXECUTE sql;
  RETURN QUERY SELECT v.ok, regexp_replace(v.detail, '[0-9a-f]{64}', '<sha256>'),
                      (SELECT s.ledger_ok FROM schemamig.status() s)
                 FROM schemamig.verify_ledger() v;
  RAISE EXCEPTION 'undo';
EXCEPTION WHEN raise_exception THEN
  RETURN;
END
$$;
SELECT * FROM pg_temp.tamper('SELECT 1');
-- the newest DDL log row deleted
SELECT * FROM pg_temp.tamper('DELETE FROM schemamig.ddl_log WHERE id = (SELECT max(id) FROM schemamig.ddl_log)');
-- the newest journal row deleted
SELECT * FROM pg_temp.tamper('DELETE FROM schemamig.journal WHERE id = (SELECT max(id) FROM schemamig.journal)');
-- the newest DDL log row edited
SELECT * FROM pg_temp.tamper('UPDATE schemamig.ddl_log SET statement = ''CREATE TABLE l3c (id bigint)'' WHERE id = (SELECT max(id) FROM schemamig.ddl_log)');
-- an old row edited: verify_ledger() finds it; status() checks only the recent end
SELECT * FROM pg_temp.tamper('UPDATE schemamig.ddl_log SET role = ''nobody'' WHERE id = 2');
-- an old row deleted: the row after it in its transaction no longer follows
SELECT * FROM pg_temp.tamper('DELETE FROM schemamig.ddl_log WHERE id = 1');
-- rows reordered (ids swapped)
SELECT * FROM pg_temp.tamper('UPDATE schemamig.ddl_log SET id = -id WHERE id IN (1, 2); UPDATE schemamig.ddl_log SET id = 3 + id WHERE id < 0');
-- a row moved to another transaction
SELECT * FROM pg_temp.tamper('UPDATE schemamig.journal SET ledger_batch = 1 WHERE id = 2');
-- a forged row without the ledger
SELECT * FROM pg_temp.tamper('INSERT INTO schemamig.journal (revision, action) VALUES (''l9'', ''upgrade'')');
-- both tables truncated
SELECT * FROM pg_temp.tamper('TRUNCATE schemamig.ddl_log');
SELECT * FROM pg_temp.tamper('TRUNCATE schemamig.journal');
-- links deleted or edited
SELECT * FROM pg_temp.tamper('DELETE FROM schemamig.ledger WHERE seq = (SELECT max(seq) FROM schemamig.ledger)');
SELECT * FROM pg_temp.tamper('DELETE FROM schemamig.ledger WHERE seq = 2');
SELECT * FROM pg_temp.tamper('UPDATE schemamig.ledger SET ddl_rows = 5 WHERE seq = 2');
SELECT * FROM pg_temp.tamper('TRUNCATE schemamig.ledger');
-- and nothing of it stayed
SELECT ok, checked FROM schemamig.verify_ledger();

-- Two-phase commit: the link's place is taken at PREPARE; a later
-- committer that appended rows waits for COMMIT or ROLLBACK PREPARED.
SET schemamig.guard = off;
BEGIN;
CREATE TABLE p1 (id int);
PREPARE TRANSACTION 'regress_ledger_p1';
SET lock_timeout = '100ms';
CREATE TABLE p2 (id int);
RESET lock_timeout;
COMMIT PREPARED 'regress_ledger_p1';
CREATE TABLE p2 (id int);
BEGIN;
CREATE TABLE p3 (id int);
PREPARE TRANSACTION 'regress_ledger_p3';
ROLLBACK PREPARED 'regress_ledger_p3';
CREATE TABLE p4 (id int);
RESET schemamig.guard;
SELECT seq, ddl_rows, journal_rows FROM schemamig.ledger WHERE seq > 4 ORDER BY seq;
SELECT ok, checked FROM schemamig.verify_ledger();

-- Not for PUBLIC: verify_ledger() is granted like the other administrative
-- functions; status().ledger_ok is for everyone.
CREATE ROLE regress_ledger_reader;
SET ROLE regress_ledger_reader;
SELECT ok FROM schemamig.verify_ledger();
SELECT ledger_ok FROM schemamig.status();
RESET ROLE;

-- A head is "seq:sha256" (as written to the server log) or the hash alone
SELECT ok FROM schemamig.verify_ledger('nonsense');
SELECT regexp_replace(detail, '.* head ', '') AS head FROM schemamig.verify_ledger() \gset
SELECT ok FROM schemamig.verify_ledger(:'head');
SELECT ok FROM schemamig.verify_ledger(split_part(:'head', ':', 2));

-- A superuser who cuts the newest link and its rows off leaves a chain that
-- is consistent in itself: only a head kept outside the database shows it
BEGIN;
SET LOCAL schemamig.restoring = on;
ALTER TABLE schemamig.ddl_log DISABLE TRIGGER ddl_log_append_only;
ALTER TABLE schemamig.journal DISABLE TRIGGER journal_append_only;
ALTER TABLE schemamig.ledger DISABLE TRIGGER ledger_append_only;
DELETE FROM schemamig.ddl_log WHERE ledger_batch = (SELECT batch FROM schemamig.ledger ORDER BY seq DESC LIMIT 1);
DELETE FROM schemamig.journal WHERE ledger_batch = (SELECT batch FROM schemamig.ledger ORDER BY seq DESC LIMIT 1);
DELETE FROM schemamig.ledger WHERE seq = (SELECT max(seq) FROM schemamig.ledger);
SELECT ok FROM schemamig.verify_ledger();
SELECT ok, regexp_replace(detail, '[0-9a-f]{64}', '<sha256>', 'g') AS detail
  FROM schemamig.verify_ledger(:'head');
ROLLBACK;

-- ... and one who rewrites the history and recomputes every hash: here
-- the rows without the unversioned change, inserted again, get new hashes
-- and a new link at commit
BEGIN;
SET LOCAL schemamig.restoring = on;
ALTER TABLE schemamig.ddl_log DISABLE TRIGGER ddl_log_no_truncate;
ALTER TABLE schemamig.journal DISABLE TRIGGER journal_no_truncate;
ALTER TABLE schemamig.ledger DISABLE TRIGGER ledger_no_truncate;
CREATE TABLE public.old_log AS SELECT * FROM schemamig.ddl_log WHERE statement NOT LIKE '%adhoc%';
CREATE TABLE public.old_journal AS SELECT * FROM schemamig.journal;
TRUNCATE schemamig.ddl_log, schemamig.journal, schemamig.ledger;
ALTER TABLE schemamig.ddl_log ENABLE ALWAYS TRIGGER ddl_log_no_truncate;
ALTER TABLE schemamig.journal ENABLE ALWAYS TRIGGER journal_no_truncate;
ALTER TABLE schemamig.ledger ENABLE ALWAYS TRIGGER ledger_no_truncate;
COMMIT;
INSERT INTO schemamig.ddl_log (revision, direction, statement_no, command_tag, statement, objects,
                               executed_at, xid, role, session_role)
  SELECT revision, direction, statement_no, command_tag, statement, objects,
         executed_at, xid, role, session_role
    FROM public.old_log ORDER BY id;
INSERT INTO schemamig.journal (revision, action, target, at, by, duration, xid)
  SELECT revision, action, target, at, by, duration, xid FROM public.old_journal ORDER BY id;
SELECT ok, checked FROM schemamig.verify_ledger();
SELECT ok, regexp_replace(detail, '[0-9a-f]{64}', '<sha256>', 'g') AS detail
  FROM schemamig.verify_ledger(:'head');

-- clean up
\c contrib_regression
DROP DATABASE regress_ledger;
DROP ROLE regress_ledger_reader;
