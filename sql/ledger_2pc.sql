--
-- The ledger under two-phase commit (src/ledger_link.c, docs/ledger.md):
-- prepared transactions that appended ledger rows never wait for each other
-- (a Citus worker commits multi-shard DDL as several prepared transactions
-- of one distributed transaction); each one's link is made after its
-- COMMIT PREPARED, from its entry in schemamig.ledger_pending, and the
-- chain verifies after COMMIT / ROLLBACK PREPARED in any order.  An
-- ordinary commit still waits for pending prepared ledger writers
-- (sql/ledger.sql).  Needs max_prepared_transactions > 0.
--
CREATE DATABASE regress_ledger_2pc;
\c regress_ledger_2pc
CREATE EXTENSION schemamig;
\set VERBOSITY terse
SET schemamig.guard = off;
SELECT schemamig.register('r1', 'CREATE TABLE r1 (id int)', 'DROP TABLE r1');

-- Three prepared ledger writers pending at once: none of them waits,
-- as a lock wait would fail under lock_timeout.  One upgrade() with journal
-- and DDL log rows, two plain DDL transactions.
SET lock_timeout = '100ms';
BEGIN;
CREATE TABLE a1 (id int);
PREPARE TRANSACTION 'regress_2pc_a1';
BEGIN;
SELECT revision FROM schemamig.upgrade();
PREPARE TRANSACTION 'regress_2pc_a2';
BEGIN;
CREATE TABLE a3 (id int);
CREATE INDEX a3_id ON a3 (id);
PREPARE TRANSACTION 'regress_2pc_a3';
RESET lock_timeout;
SELECT gid FROM pg_prepared_xacts WHERE gid LIKE 'regress_2pc_%' ORDER BY gid;
-- their entries are not visible yet, and the chain is as it was
SELECT count(*) AS pending FROM schemamig.ledger_pending;
SELECT count(*) AS links FROM schemamig.ledger;

-- resolved in another order than prepared: rollback, commit, commit
ROLLBACK PREPARED 'regress_2pc_a2';
SELECT ok, checked FROM schemamig.verify_ledger();
COMMIT PREPARED 'regress_2pc_a3';
SELECT ok, checked FROM schemamig.verify_ledger();
COMMIT PREPARED 'regress_2pc_a1';
SELECT ok, checked FROM schemamig.verify_ledger();
SELECT ledger_ok FROM schemamig.status();
-- each commit made its link at once; nothing is left pending
SELECT count(*) AS pending FROM schemamig.ledger_pending;
SELECT seq, ddl_rows, journal_rows, unversioned FROM schemamig.ledger ORDER BY seq;
-- a link keeps the xid of its prepared transaction, not the committer's
SELECT bool_and(l.xid = d.xid) AS same_xid, count(DISTINCT l.seq) AS links
  FROM schemamig.ledger l JOIN schemamig.ddl_log d ON d.ledger_batch = l.batch;

-- again with the revision: commit first, then roll the other back
BEGIN;
SELECT revision FROM schemamig.upgrade();
PREPARE TRANSACTION 'regress_2pc_b1';
BEGIN;
CREATE TABLE b2 (id int);
PREPARE TRANSACTION 'regress_2pc_b2';
COMMIT PREPARED 'regress_2pc_b1';
ROLLBACK PREPARED 'regress_2pc_b2';
SELECT seq, ddl_rows, journal_rows FROM schemamig.ledger WHERE seq > 2 ORDER BY seq;
SELECT ok, checked FROM schemamig.verify_ledger();
SELECT revision, action FROM schemamig.journal ORDER BY id;
-- both committed, in the order prepared, then an ordinary commit after them
BEGIN;
CREATE TABLE c1 (id int);
PREPARE TRANSACTION 'regress_2pc_c1';
BEGIN;
CREATE TABLE c2 (id int);
PREPARE TRANSACTION 'regress_2pc_c2';
COMMIT PREPARED 'regress_2pc_c1';
COMMIT PREPARED 'regress_2pc_c2';
CREATE TABLE c3 (id int);
SELECT seq, ddl_rows, journal_rows FROM schemamig.ledger WHERE seq > 4 ORDER BY seq;
SELECT ok, checked FROM schemamig.verify_ledger();
SELECT ledger_ok FROM schemamig.status();

-- A committed entry that is not linked yet (a crash right after COMMIT
-- PREPARED, a backend without schemamig, a busy chain lock: here the
-- newest link moved back into ledger_pending by hand) is checked like a
-- link and said to be waiting; the next ordinary commit links it.
BEGIN;
SET LOCAL schemamig.restoring = on;
ALTER TABLE schemamig.ledger DISABLE TRIGGER ledger_append_only;
INSERT INTO schemamig.ledger_pending
  SELECT batch, xid, at, ddl_rows, ddl_first, ddl_last, journal_rows, journal_first,
         journal_last, unversioned
    FROM schemamig.ledger ORDER BY seq DESC LIMIT 1;
DELETE FROM schemamig.ledger WHERE seq = (SELECT max(seq) FROM schemamig.ledger);
ALTER TABLE schemamig.ledger ENABLE ALWAYS TRIGGER ledger_append_only;
COMMIT;
SELECT ok, checked, regexp_replace(regexp_replace(detail, '[0-9a-f]{64}', '<sha256>'), 'batch [0-9]+', 'batch N') AS detail
  FROM schemamig.verify_ledger();
SELECT ledger_ok FROM schemamig.status();
-- ... but its rows are still checked against it
BEGIN;
SET LOCAL schemamig.restoring = on;
ALTER TABLE schemamig.ddl_log DISABLE TRIGGER USER;
UPDATE schemamig.ddl_log SET statement = 'CREATE TABLE c3 (id bigint)' WHERE statement = 'CREATE TABLE c3 (id int)';
SELECT ok, regexp_replace(detail, 'batch [0-9]+', 'batch N') AS detail FROM schemamig.verify_ledger();
SELECT ledger_ok FROM schemamig.status();
ROLLBACK;
BEGIN;
SET LOCAL schemamig.restoring = on;
ALTER TABLE schemamig.ddl_log DISABLE TRIGGER USER;
DELETE FROM schemamig.ddl_log WHERE statement = 'CREATE TABLE c3 (id int)';
SELECT ok, regexp_replace(detail, 'batch [0-9]+', 'batch N') AS detail FROM schemamig.verify_ledger();
SELECT ledger_ok FROM schemamig.status();
ROLLBACK;
-- an entry for a batch that has a link already
BEGIN;
INSERT INTO schemamig.ledger_pending (batch, xid, at, ddl_rows, journal_rows, unversioned)
  SELECT batch, xid, at, 0, 0, 0 FROM schemamig.ledger WHERE seq = 1;
SELECT ok, regexp_replace(detail, 'batch [0-9]+', 'batch N') AS detail FROM schemamig.verify_ledger();
ROLLBACK;
-- the next ordinary commit that appends rows links the waiting entry, then its own
CREATE TABLE d1 (id int);
SELECT count(*) AS pending FROM schemamig.ledger_pending;
SELECT seq, ddl_rows, journal_rows FROM schemamig.ledger WHERE seq > 5 ORDER BY seq;
SELECT ok, checked FROM schemamig.verify_ledger();
SELECT ledger_ok FROM schemamig.status();

-- An ordinary role (under warn, set by the superuser): its prepared DDL is
-- linked at its own COMMIT PREPARED; it cannot read ledger_pending, which
-- is not for PUBLIC
CREATE ROLE regress_2pc_app;
GRANT CREATE ON SCHEMA public TO regress_2pc_app;
SET schemamig.guard = warn;
SET client_min_messages = error;
SET ROLE regress_2pc_app;
BEGIN;
CREATE TABLE e1 (id int);
PREPARE TRANSACTION 'regress_2pc_e1';
BEGIN;
CREATE TABLE e2 (id int);
PREPARE TRANSACTION 'regress_2pc_e2';
COMMIT PREPARED 'regress_2pc_e2';
ROLLBACK PREPARED 'regress_2pc_e1';
SELECT count(*) FROM schemamig.ledger_pending;
RESET ROLE;
RESET client_min_messages;
SELECT seq, ddl_rows, unversioned FROM schemamig.ledger WHERE seq > 7 ORDER BY seq;
SELECT ok, checked FROM schemamig.verify_ledger();
SELECT role, statement FROM schemamig.ddl_log WHERE statement LIKE 'CREATE TABLE e%';

\c contrib_regression
DROP DATABASE regress_ledger_2pc;
REVOKE CREATE ON SCHEMA public FROM regress_2pc_app;
DROP ROLE regress_2pc_app;
