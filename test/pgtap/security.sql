-- Security: who may migrate, what a migration may do, who may touch the log.
BEGIN;
SELECT plan(37);

SET LOCAL schemamig.guard = off;
CREATE ROLE sm_nobody LOGIN;
CREATE ROLE sm_deploy LOGIN;
GRANT USAGE, CREATE ON SCHEMA public TO sm_nobody, sm_deploy;
CREATE TABLE public.secret (v text);
INSERT INTO public.secret VALUES ('the crown jewels');
SET LOCAL schemamig.guard = enforce;

-- A role without EXECUTE cannot migrate, even with CREATE on the schema
SET LOCAL ROLE sm_nobody;
SELECT throws_ok($$SELECT schemamig.register('s1', 'CREATE TABLE s1 (id int)', 'DROP TABLE s1')$$,
                 '42501', NULL, 'register() needs EXECUTE');
SELECT throws_ok($$SELECT * FROM schemamig.upgrade()$$, '42501', NULL, 'upgrade() needs EXECUTE');
SELECT throws_ok($$SELECT * FROM schemamig.downgrade()$$, '42501', NULL, 'downgrade() needs EXECUTE');
SELECT throws_ok($$SELECT schemamig.stamp('base')$$, '42501', NULL, 'stamp() needs EXECUTE');
SELECT throws_ok($$SELECT schemamig.begin_revision('s1')$$, '42501', NULL, 'begin_revision() needs EXECUTE');
SELECT throws_ok($$CREATE TABLE public.sneaky (id int)$$, 'SM001', NULL,
                 'CREATE rights do not bypass the guard');
SELECT throws_ok($$SET schemamig.guard = off$$, '42501', NULL, 'an ordinary role cannot switch the guard off');
SELECT throws_ok($$SET schemamig.restoring = on; CREATE TABLE public.sneaky (id int)$$, 'SM001', NULL,
                 'an ordinary role that sets schemamig.restoring is still guarded (honoured only for superusers and a restore window)');
SELECT throws_ok($$SELECT * FROM schemamig.ddl_log$$, '42501', NULL, 'the log is not readable by PUBLIC');
SELECT throws_ok($$INSERT INTO schemamig.ddl_log (direction, command_tag) VALUES ('client', 'X')$$,
                 '42501', NULL, 'the log is not writable by PUBLIC');
SELECT throws_ok($$INSERT INTO schemamig.applied (revision, checksum) VALUES ('x', 'y')$$,
                 '42501', NULL, 'the applied set is not writable by PUBLIC');
SELECT lives_ok($$SELECT * FROM schemamig.status()$$, 'status() is for everyone');
-- the step protocol is for deploy roles too; steps() shows the scripts
SELECT throws_ok($$SELECT * FROM schemamig.steps()$$, '42501', NULL, 'steps() needs EXECUTE');
SELECT throws_ok($$SELECT * FROM schemamig.downgrade_steps()$$, '42501', NULL, 'downgrade_steps() needs EXECUTE');
SELECT throws_ok($$SELECT schemamig.begin_step('s1', 1)$$, '42501', NULL, 'begin_step() needs EXECUTE');
SELECT throws_ok($$SELECT schemamig.finish_step('s1')$$, '42501', NULL, 'finish_step() needs EXECUTE');
SELECT throws_ok($$CALL schemamig.upgrade_each()$$, '42501', NULL, 'upgrade_each() needs EXECUTE');
SELECT throws_ok($$SELECT * FROM schemamig.progress$$, '42501', NULL, 'progress is not readable by PUBLIC');
SELECT throws_ok($$INSERT INTO schemamig.progress (revision, direction, statements) VALUES ('x', 'upgrade', 1)$$,
                 '42501', NULL, 'progress is not writable by PUBLIC');
RESET ROLE;

-- A deploy role granted EXECUTE can migrate ... (GRANT is DDL too: the
-- superuser does it with the guard off, or in a revision)
SET LOCAL schemamig.guard = off;
GRANT EXECUTE ON FUNCTION schemamig.register(text, text, text, text[], text),
                          schemamig.upgrade(text), schemamig.downgrade(text)
   TO sm_deploy;
SET LOCAL schemamig.guard = enforce;
SET LOCAL ROLE sm_deploy;
SELECT lives_ok($$SELECT schemamig.register('s1', 'CREATE TABLE public.s1 (id int)', 'DROP TABLE public.s1')$$,
                'a deploy role registers');
SELECT lives_ok($$SELECT * FROM schemamig.upgrade()$$, 'a deploy role upgrades');
RESET ROLE;
SELECT is((SELECT tableowner::text FROM pg_tables WHERE tablename = 's1'), 'sm_deploy',
          'migration SQL runs as the caller');
SELECT is((SELECT role::text || '/' || session_role FROM schemamig.ddl_log WHERE revision = 's1'),
          'sm_deploy/postgres', 'the log records current_user and session_user');

-- ... and is still refused ad-hoc DDL on its own table
SET LOCAL ROLE sm_deploy;
SELECT throws_ok($$ALTER TABLE public.s1 ADD COLUMN x int$$, 'SM001', NULL, 'owner: ALTER refused');
SELECT throws_ok($$DROP TABLE public.s1$$, 'SM001', NULL, 'owner: DROP refused');
SELECT throws_ok($$COMMENT ON TABLE public.s1 IS 'x'$$, 'SM001', NULL, 'owner: COMMENT refused');
SELECT throws_ok($$GRANT SELECT ON public.s1 TO PUBLIC$$, 'SM001', NULL, 'owner: GRANT refused');
SELECT throws_ok($$CREATE INDEX ON public.s1 (id)$$, 'SM001', NULL, 'owner: CREATE INDEX refused');
SELECT throws_ok($$CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1'$$, 'SM001', NULL, 'CREATE FUNCTION refused');
SELECT throws_ok($$CREATE VIEW public.v AS SELECT 1$$, 'SM001', NULL, 'CREATE VIEW refused');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM pg_attribute WHERE attrelid = 'public.s1'::regclass AND attnum > 0),
          1, 'nothing changed');

-- ... but a migration cannot do what the role itself could not
SET LOCAL ROLE sm_deploy;
SELECT lives_ok($$SELECT schemamig.register('s2', 'CREATE TABLE public.stolen AS SELECT * FROM public.secret', 'DROP TABLE public.stolen')$$,
                'registering is not running');
SELECT throws_ok($$SELECT * FROM schemamig.upgrade()$$, '42501', NULL,
                 'a migration has the rights of its caller, no more');
-- a function planted ahead of pg_catalog is never called by schemamig's bookkeeping
SELECT lives_ok($t$SELECT schemamig.register('s3', $s$CREATE FUNCTION public.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql AS $f$BEGIN UPDATE public.secret SET v = 'pwned'; RETURN now(); END$f$$s$, 'DROP FUNCTION public.clock_timestamp()', '{s1}')$t$,
                'a revision may create functions');
SET LOCAL search_path = public, pg_catalog;
SELECT lives_ok($$SELECT * FROM schemamig.upgrade('s3')$$, 'upgrade with a hostile search_path');
RESET ROLE;
SELECT is((SELECT v FROM public.secret), 'the crown jewels',
          'bookkeeping never calls a function planted ahead of pg_catalog');

-- Nobody edits the log, superusers included
SELECT throws_ok($$UPDATE schemamig.ddl_log SET statement = 'forged'$$, '42501', NULL,
                 'superuser cannot UPDATE the log');

SELECT * FROM finish();
ROLLBACK;
