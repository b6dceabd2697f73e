--
-- The revision graph: chains, branches, merges, several roots, and the
-- targets of upgrade() and downgrade().
--
CREATE EXTENSION schemamig;
SET client_min_messages = notice;

-- A linear chain.  parents NULL means "on top of the single head".
SELECT schemamig.register('a1', 'CREATE TABLE a1 (id int)', 'DROP TABLE a1', message => 'first');
SELECT schemamig.register('a2', 'CREATE TABLE a2 (id int)', 'DROP TABLE a2');
SELECT schemamig.register('a3', 'CREATE TABLE a3 (id int)', 'DROP TABLE a3');
SELECT revision, parents, message, applied, is_head FROM schemamig.history();
SELECT * FROM schemamig.heads();

-- +N applies the next N pending revisions in order
SELECT revision, direction, statements FROM schemamig.upgrade('+2');
SELECT * FROM schemamig.current();
SELECT revision, direction, statements FROM schemamig.upgrade('head');
SELECT revision, direction, statements FROM schemamig.upgrade('heads');

-- -N unapplies the newest N; an id keeps itself and unapplies what is above
SELECT revision, direction FROM schemamig.downgrade('-1');
SELECT revision, direction FROM schemamig.downgrade('a1');
SELECT * FROM schemamig.current();
SELECT revision, direction FROM schemamig.downgrade('base');
SELECT count(*) AS applied FROM schemamig.applied;
SELECT to_regclass('a1') IS NULL AS a1_gone;

-- upgrade to an id applies exactly its missing ancestors and itself
SELECT revision FROM schemamig.upgrade('a2');
SELECT * FROM schemamig.current();

-- A branch: b1 and c1 both on top of a3, then a merge m1 of both
SELECT schemamig.register('b1', 'CREATE TABLE b1 (id int)', 'DROP TABLE b1', parents => '{a3}');
SELECT schemamig.register('c1', 'CREATE TABLE c1 (id int)', 'DROP TABLE c1', parents => '{a3}');
SELECT * FROM schemamig.heads();
-- with two heads, "head" is ambiguous
SELECT revision FROM schemamig.upgrade('head');
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM schemamig.upgrade('b1');
SELECT * FROM schemamig.current();
SELECT schemamig.register('m1', 'CREATE TABLE m1 (id int)', 'DROP TABLE m1', parents => '{b1,c1}', message => 'merge');
SELECT * FROM schemamig.heads();
SELECT revision FROM schemamig.upgrade();
SELECT revision, parents, applied, is_head, is_current FROM schemamig.history();

-- downgrading c1 must first unapply the merge that descends from it
SELECT revision FROM schemamig.downgrade('a3');
SELECT * FROM schemamig.current();
SELECT revision FROM schemamig.upgrade();

-- Several roots: an independent history in the same database
SELECT schemamig.register('r1', 'CREATE TABLE r1 (id int)', 'DROP TABLE r1', parents => '{}');
SELECT schemamig.register('r2', 'CREATE TABLE r2 (id int)', 'DROP TABLE r2', parents => '{r1}');
SELECT * FROM schemamig.heads();
SELECT revision FROM schemamig.upgrade('r2');
SELECT * FROM schemamig.current();
-- the order of upgrade is parents first, ties by registration order
SELECT revision FROM schemamig.downgrade('base');
SELECT revision FROM schemamig.upgrade('heads');
-- and downgrade goes newest first
SELECT revision FROM schemamig.downgrade('-3');
SELECT revision, applied FROM schemamig.history();

-- stamp sets the applied set without running anything
SELECT schemamig.stamp('base');
SELECT count(*) AS applied FROM schemamig.applied;
SELECT to_regclass('m1') IS NOT NULL AS m1_still_there;
SELECT schemamig.stamp('m1');
SELECT revision FROM schemamig.applied ORDER BY seq;
SELECT revision, action, target FROM schemamig.journal WHERE action = 'stamp' ORDER BY id;
SELECT schemamig.stamp('heads');
SELECT * FROM schemamig.current();
-- stamp back to what really exists: m1, r1 and r2 were reverted above
SELECT schemamig.stamp('c1');
SELECT * FROM schemamig.current();

-- the journal has one row per revision and direction, in order
SELECT revision, action, target, duration >= '0'::interval AS timed
  FROM schemamig.journal ORDER BY id LIMIT 8;

-- unregister: only leaves that are not applied
SELECT schemamig.unregister('r1');
SELECT schemamig.unregister('r2');
SELECT schemamig.unregister('r1');
SELECT * FROM schemamig.heads();

-- clean up
SELECT revision FROM schemamig.downgrade('base');
SET schemamig.guard = off;
DROP TABLE b1;
DROP EXTENSION schemamig;
