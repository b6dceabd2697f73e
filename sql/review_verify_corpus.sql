-- verify() on the shapes of up/down pairs met in real migration histories
-- (test/verify_corpus: stellar/go Horizon, mattermost, lemmy), reduced to a
-- few lines each and written anew.  Each verdict here was checked against
-- pg_dump --schema-only before the upgrade and after upgrade + downgrade:
-- the first group restores the schema (no false alarm allowed), the second
-- does not (each must stay flagged, with what the downgrade forgot).
CREATE EXTENSION schemamig;
\set VERBOSITY terse
SET client_min_messages = error;
SET schemamig.lint = off;

SELECT schemamig.register('c0',
	$$CREATE TABLE public.acct (id integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
		name varchar(20) NOT NULL, roles varchar(64), fee text, seq bigint);
	  CREATE TABLE public.member (acct_id bigint, roles varchar(64));
	  CREATE TABLE public.trade (op bigint NOT NULL, acct_id bigint NOT NULL,
		offer_id bigint NOT NULL, amount bigint);
	  CREATE FUNCTION public.rank(n numeric) RETURNS integer LANGUAGE sql
		AS 'SELECT floor(n)::integer';
	  CREATE VIEW public.acct_view AS SELECT a.*, (SELECT count(*) FROM public.trade t
		WHERE t.acct_id = a.id) AS trades FROM public.acct a$$,
	'DROP VIEW public.acct_view; DROP FUNCTION public.rank(numeric);
	 DROP TABLE public.trade; DROP TABLE public.member; DROP TABLE public.acct', '{}');
SELECT count(*) FROM schemamig.upgrade('c0');

-- restored: a view dropped and created again with one more column, and the
-- old definition created again by the downgrade
SELECT schemamig.register('v_replace',
	$$DROP VIEW public.acct_view;
	  CREATE VIEW public.acct_view AS SELECT a.*, (SELECT count(*) FROM public.trade t
		WHERE t.acct_id = a.id) AS trades, public.rank(a.seq) AS rank FROM public.acct a$$,
	$$DROP VIEW public.acct_view;
	  CREATE VIEW public.acct_view AS SELECT a.*, (SELECT count(*) FROM public.trade t
		WHERE t.acct_id = a.id) AS trades FROM public.acct a$$, '{c0}');
-- restored: a type change guarded by a DO block, undone by another
SELECT schemamig.register('do_type',
	$x$DO $d$ BEGIN
		IF (SELECT character_maximum_length FROM information_schema.columns
			WHERE table_name = 'member' AND column_name = 'roles') <> 256 THEN
			ALTER TABLE public.member ALTER COLUMN roles TYPE varchar(256);
		END IF; END $d$ $x$,
	$x$DO $d$ BEGIN
		IF (SELECT character_maximum_length FROM information_schema.columns
			WHERE table_name = 'member' AND column_name = 'roles') <> 64 THEN
			ALTER TABLE public.member ALTER COLUMN roles TYPE varchar(64);
		END IF; END $d$ $x$, '{v_replace}');
-- restored: an identity table and its index, dropped by the downgrade;
-- IF NOT EXISTS / IF EXISTS everywhere
SELECT schemamig.register('if_exists',
	$$CREATE TABLE IF NOT EXISTS public.remind (post varchar(26) NOT NULL,
		id bigint GENERATED ALWAYS AS IDENTITY, at bigint, PRIMARY KEY (post, id));
	  CREATE INDEX IF NOT EXISTS remind_at ON public.remind (at)$$,
	'DROP INDEX IF EXISTS public.remind_at; DROP TABLE IF EXISTS public.remind',
	'{do_type}');
-- restored: a downgrade that only documents why nothing is to undo, after
-- an upgrade that changed nothing (DROP COLUMN IF EXISTS of no column)
SELECT schemamig.register('no_op',
	'ALTER TABLE public.acct DROP COLUMN IF EXISTS accepted_terms',
	'-- intentionally no rollback', '{if_exists}');
SELECT revision, upgrade_ok, downgrade_ok, restores_schema, reapply_ok, detail
FROM schemamig.verify();
SELECT count(*) FROM schemamig.upgrade();

-- not restored: a misspelt table name in DROP TABLE IF EXISTS
SELECT schemamig.register('typo',
	'CREATE TABLE public.membership (acct_id bigint PRIMARY KEY, since bigint)',
	'DROP TABLE IF EXISTS public.membrship', '{no_op}');
-- not restored: the dropped column comes back last, not in its place
SELECT schemamig.register('col_order',
	'ALTER TABLE public.member DROP COLUMN acct_id',
	'ALTER TABLE public.member ADD COLUMN acct_id bigint', '{no_op}');
-- not restored: a NOT NULL column comes back nullable
SELECT schemamig.register('not_null',
	'ALTER TABLE public.trade DROP COLUMN offer_id',
	'ALTER TABLE public.trade ADD COLUMN offer_id bigint', '{no_op}');
-- not restored: storage parameters the table never had
SELECT schemamig.register('reloptions',
	'ALTER TABLE public.trade SET (autovacuum_vacuum_scale_factor = 0.02)',
	'ALTER TABLE public.trade SET (autovacuum_vacuum_scale_factor = 0.1)', '{no_op}');
-- not restored: an index created again with a predicate it did not have
SELECT schemamig.register('idx_pred',
	'CREATE INDEX by_fee ON public.acct (fee)', 'DROP INDEX public.by_fee', '{no_op}');
SELECT schemamig.register('idx_pred2',
	'DROP INDEX public.by_fee',
	'CREATE INDEX by_fee ON public.acct (fee) WHERE fee IS NOT NULL', '{idx_pred}');
-- not restored: the downgrade fails on a column that never existed
SELECT schemamig.register('down_fails',
	'CREATE INDEX acct_seq ON public.acct (seq)',
	'DROP INDEX public.acct_seq; CREATE INDEX acct_x ON public.acct (claimants)',
	'{no_op}');
SELECT revision, upgrade_ok, downgrade_ok, restores_schema, reapply_ok, detail
FROM schemamig.verify() ORDER BY revision;
-- idx_pred2 on its own, with idx_pred applied first
SELECT count(*) FROM schemamig.upgrade('idx_pred');
SELECT revision, restores_schema, detail FROM schemamig.verify('idx_pred2');

-- the same verdicts for a role that registered and reviews its own revisions
SELECT count(*) FROM schemamig.upgrade();
CREATE ROLE sm_vcorpus;
SET schemamig.guard = off;
GRANT CREATE ON SCHEMA public TO sm_vcorpus;
GRANT EXECUTE ON FUNCTION schemamig.register(text, text, text, text[], text),
	schemamig.verify(text) TO sm_vcorpus;
RESET schemamig.guard;
SET ROLE sm_vcorpus;
SELECT schemamig.register('own_typo',
	'CREATE TABLE public.own_t (id int)',
	'DROP TABLE IF EXISTS public.own_tt', '{no_op}');
SELECT schemamig.register('own_ok',
	$$CREATE TABLE public.own_v (id int); CREATE VIEW public.own_w AS SELECT id FROM public.own_v$$,
	'DROP VIEW public.own_w; DROP TABLE public.own_v', '{no_op}');
SELECT revision, restores_schema, detail FROM schemamig.verify('own_typo');
SELECT revision, restores_schema, detail FROM schemamig.verify('own_ok');
RESET ROLE;

-- clean up
SET schemamig.guard = off;
DROP EXTENSION schemamig;
DROP TABLE public.membership, public.member, public.remind, public.trade,
	public.acct CASCADE;
DROP FUNCTION public.rank(numeric);
REVOKE CREATE ON SCHEMA public FROM sm_vcorpus;
DROP ROLE sm_vcorpus;
