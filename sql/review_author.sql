-- Executed review (plan with execute => true, verify()) runs a revision's
-- scripts as the role that registered it, recorded by OID; the caller must
-- be that role, a member of it, or a superuser.  A revision registered by a
-- deploy role cannot run an OS command through a superuser's review.
-- expected/review_author_1.out: PostgreSQL 16+ word the COPY ... PROGRAM
-- permission error differently ("permission denied to COPY to or from an
-- external program"); the only difference.
CREATE EXTENSION schemamig;
\set VERBOSITY terse
SET client_min_messages = error;
CREATE ROLE sm_deploy;
CREATE ROLE sm_other;
SET schemamig.guard = off;
GRANT CREATE ON SCHEMA public TO sm_deploy;
GRANT EXECUTE ON FUNCTION schemamig.register(text, text, text, text[], text),
	schemamig.plan(text, boolean), schemamig.verify(text) TO sm_deploy, sm_other;
RESET schemamig.guard;

SET ROLE sm_deploy;
SELECT schemamig.register('a1', 'CREATE TABLE public.a1 (id int)', 'DROP TABLE public.a1', '{}');
SELECT schemamig.register('a2', $$COPY (SELECT 1) TO PROGRAM 'touch /tmp/schemamig_review_author_ran'$$,
	'SELECT 1', '{a1}');
RESET ROLE;
SELECT revision, registered_by, registered_role = 'sm_deploy'::regrole AS by_oid
FROM schemamig.revision ORDER BY seq;

-- a superuser reviews: the COPY runs as sm_deploy and is refused, every time
SELECT revision, statement_no FROM schemamig.plan(execute => true);
SELECT revision, upgrade_ok, downgrade_ok, detail FROM schemamig.verify();
SELECT revision, upgrade_ok FROM schemamig.verify('a2');
-- the prediction runs nothing; COPY is not predicted
SELECT revision, statement_no, strongest_lock, note FROM schemamig.plan();
SELECT pg_stat_file('/tmp/schemamig_review_author_ran', true) IS NULL AS no_os_command_ran;

-- the author may review its own revision
SET ROLE sm_deploy;
SELECT revision, statement_no, strongest_lock FROM schemamig.plan('a1', execute => true);
SELECT revision, upgrade_ok, downgrade_ok, restores_schema FROM schemamig.verify('a1');
RESET ROLE;
-- a stranger may not (the prediction is still open to it)
SET ROLE sm_other;
SELECT revision, statement_no FROM schemamig.plan('a1', execute => true);
SELECT revision, upgrade_ok FROM schemamig.verify('a1');
SELECT revision, statement_no FROM schemamig.plan('a1');
RESET ROLE;
-- a member of the author may
GRANT sm_deploy TO sm_other;
SET ROLE sm_other;
SELECT revision, statement_no, strongest_lock FROM schemamig.plan('a1', execute => true);
RESET ROLE;

-- the script cannot switch back to the reviewer's role
SET ROLE sm_deploy;
SELECT schemamig.register('a3', 'SET ROLE postgres; CREATE TABLE public.a3 (id int)', 'DROP TABLE public.a3', '{a1}');
RESET ROLE;
SELECT revision, upgrade_ok, detail FROM schemamig.verify('a3');

-- a dropped author is a clear refusal
REVOKE sm_deploy FROM sm_other;
CREATE ROLE sm_gone;
SET schemamig.guard = off;
GRANT CREATE ON SCHEMA public TO sm_gone;
GRANT EXECUTE ON FUNCTION schemamig.register(text, text, text, text[], text) TO sm_gone;
RESET schemamig.guard;
SET ROLE sm_gone;
SELECT schemamig.register('a4', 'CREATE TABLE public.a4 (id int)', 'DROP TABLE public.a4', '{a1}');
RESET ROLE;
SET schemamig.guard = off;
REVOKE CREATE ON SCHEMA public FROM sm_gone;
REVOKE EXECUTE ON FUNCTION schemamig.register(text, text, text, text[], text) FROM sm_gone;
RESET schemamig.guard;
DROP ROLE sm_gone;
SELECT revision, statement_no FROM schemamig.plan('a4', execute => true);
SELECT revision, upgrade_ok, detail FROM schemamig.verify('a4');
SELECT revision, statement_no, strongest_lock FROM schemamig.plan('a4');

-- clean up
SET schemamig.guard = off;
DROP EXTENSION schemamig;
REVOKE CREATE ON SCHEMA public FROM sm_deploy;
DROP ROLE sm_deploy;
DROP ROLE sm_other;
