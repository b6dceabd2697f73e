-- test/majors/schema.sql: one schema, written for the oldest supported
-- major (15), that exercises what PostgreSQL stores differently from major
-- to major: NOT NULL (17 stores a domain's, 18 every column's in
-- pg_constraint, named or not), ALL PRIVILEGES (17 adds MAINTAIN), and the
-- deparsed text of defaults, checks, indexes, views, SQL-standard function
-- bodies, triggers, policies and statistics.  Built by
-- sql/fingerprint_majors.sql (its fingerprint is the same on every major)
-- and test/integration/restore_across_majors.sh (a dump of it from one
-- major restores on another without drift).  Expects the roles
-- regress_fpm_reader and regress_fpm_writer to exist.
CREATE SCHEMA app;
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE app.pair AS (a integer, b text);
CREATE TYPE app.floatrange AS RANGE (subtype = float8);
CREATE DOMAIN app.email AS text NOT NULL CHECK (VALUE LIKE '%@%');
CREATE DOMAIN app.posint AS integer CONSTRAINT posint_required NOT NULL
	CONSTRAINT posint_positive CHECK (VALUE > 0);
CREATE DOMAIN app.optional_note AS varchar(200) DEFAULT 'none';
CREATE SEQUENCE app.counter START 10 INCREMENT 5;

CREATE TABLE app.users (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	email app.email,
	name text NOT NULL,
	nick text CONSTRAINT users_nick_required NOT NULL,
	mood app.mood DEFAULT 'ok',
	score numeric(10, 2) CHECK (score >= 0),
	visits app.posint DEFAULT 1,
	created timestamptz NOT NULL DEFAULT now(),
	name_upper text GENERATED ALWAYS AS (upper(name)) STORED,
	tags text[] DEFAULT '{}',
	UNIQUE (email)
);
ALTER TABLE app.users ADD CONSTRAINT users_score_max CHECK (score < 1000000) NOT VALID;
ALTER TABLE app.users ALTER COLUMN name SET STATISTICS 500;
CREATE INDEX users_lower_email ON app.users (lower(email::text));
CREATE INDEX users_tags ON app.users USING gin (tags);

CREATE TABLE app.orders (
	id serial PRIMARY KEY,
	user_id bigint NOT NULL REFERENCES app.users (id) ON DELETE CASCADE,
	amount numeric NOT NULL DEFAULT 0,
	during tstzrange,
	note app.optional_note,
	EXCLUDE USING gist (during WITH &&)
);
CREATE INDEX orders_user_idx ON app.orders (user_id) INCLUDE (amount) WHERE amount > 0;

CREATE TABLE app.events (
	id integer NOT NULL,
	at date NOT NULL,
	payload jsonb,
	PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE TABLE app.events_2024 PARTITION OF app.events
	FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE app.events_rest PARTITION OF app.events DEFAULT;

CREATE TABLE app.base (id integer NOT NULL, note text);
CREATE TABLE app.child (extra integer NOT NULL) INHERITS (app.base);
ALTER TABLE app.base ADD CONSTRAINT base_pkey PRIMARY KEY (id);
CREATE UNLOGGED TABLE app.scratch (k text NOT NULL, v text) WITH (fillfactor = 70);

CREATE VIEW app.active_users AS
	SELECT id, email, coalesce(score, 0) AS score FROM app.users WHERE mood <> 'sad';
CREATE MATERIALIZED VIEW app.order_totals AS
	SELECT user_id, sum(amount) AS total FROM app.orders GROUP BY user_id WITH NO DATA;

CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.created := now();
	RETURN NEW;
END
$$;
CREATE TRIGGER users_touch BEFORE UPDATE ON app.users
	FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION app.touch();
CREATE FUNCTION app.add(a integer, b integer) RETURNS integer
	LANGUAGE sql IMMUTABLE RETURN a + b;
CREATE FUNCTION app.total(uid bigint) RETURNS numeric LANGUAGE sql STABLE
BEGIN ATOMIC
	SELECT sum(amount) FROM app.orders WHERE user_id = uid;
END;
CREATE PROCEDURE app.bump(n integer) LANGUAGE sql AS $$ SELECT n + 1 $$;

ALTER TABLE app.users ENABLE ROW LEVEL SECURITY;
CREATE POLICY users_self ON app.users USING (name = current_user);
CREATE STATISTICS app.users_stats (dependencies) ON name, mood FROM app.users;
CREATE RULE orders_no_delete AS ON DELETE TO app.orders WHERE old.amount > 1000 DO INSTEAD NOTHING;

GRANT USAGE ON SCHEMA app TO regress_fpm_reader;
GRANT ALL ON app.users TO regress_fpm_writer;
GRANT ALL ON app.orders TO regress_fpm_writer WITH GRANT OPTION;
GRANT SELECT ON app.orders, app.active_users TO regress_fpm_reader;
GRANT SELECT (email, name), UPDATE (name) ON app.users TO regress_fpm_reader;
GRANT USAGE ON SEQUENCE app.counter TO regress_fpm_reader;
REVOKE EXECUTE ON FUNCTION app.add(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.add(integer, integer) TO regress_fpm_reader;
COMMENT ON TABLE app.users IS 'people';
CREATE VIEW app.user_orders AS
	SELECT u.email, o.amount, (SELECT count(*) FROM app.orders x WHERE x.user_id = u.id) AS n
	FROM app.users u JOIN app.orders o ON o.user_id = u.id
	WHERE o.amount > 0;
