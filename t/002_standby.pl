# A streaming standby (pg_basebackup): status(), history(), current(),
# heads(), the fingerprint, drift(), lint() and the log read the same as on
# the primary; every mutating call fails with SQLSTATE 25006 and a hint to
# run it on the primary; after promotion upgrade() works, its DDL is logged
# and the guard blocks ad-hoc DDL.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SchemamigTAP;
use Test::More;

my $primary = new_node('primary', allows_streaming => 1);
$primary->safe_psql('postgres', q{
SET client_min_messages = warning;
SELECT schemamig.register('p1', 'CREATE TABLE p1 (id int PRIMARY KEY)', 'DROP TABLE p1 -- schemamig:allow drop-table');
SELECT schemamig.register('p2', 'ALTER TABLE p1 ADD COLUMN name text', 'ALTER TABLE p1 DROP COLUMN name -- schemamig:allow drop-column');
SELECT schemamig.register('p3', 'CREATE TABLE p3 (id int)', 'DROP TABLE p3 -- schemamig:allow drop-table');
SELECT count(*) FROM schemamig.upgrade('p2');
});
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');

# one more migration on the primary, replayed on the standby
$primary->safe_psql('postgres', q{
SET client_min_messages = warning;
SELECT schemamig.register('p4', 'CREATE INDEX p1_name_idx ON p1 (name)', 'DROP INDEX p1_name_idx', '{p2}');
SELECT count(*) FROM schemamig.upgrade('p4');
});
$primary->wait_for_catchup($standby);

# reads on the standby equal the primary's
for my $sql (
	"SELECT row_to_json(s)::text FROM schemamig.status() s",
	"SELECT string_agg(revision || applied::text || is_head::text, ',') FROM schemamig.history()",
	"SELECT string_agg(c, ',') FROM schemamig.current() c",
	"SELECT string_agg(h, ',' ORDER BY h) FROM schemamig.heads() h",
	"SELECT schemamig.fingerprint()",
	"SELECT count(*) FROM schemamig.drift()",
	"SELECT string_agg(id || revision || statement, ',' ORDER BY id) FROM schemamig.ddl_log",
	"SELECT string_agg(id || revision || action, ',' ORDER BY id) FROM schemamig.journal",
	"SELECT string_agg(rule, ',') FROM schemamig.lint('ALTER TABLE p1 ADD COLUMN x int NOT NULL')")
{
	is($standby->safe_psql('postgres', $sql), $primary->safe_psql('postgres', $sql), "same on the standby: $sql");
}

# every mutating call is refused with schemamig's message
for my $call (
	"SELECT schemamig.register('p5', 'CREATE TABLE p5 (id int)', 'DROP TABLE p5')",
	"SELECT schemamig.unregister('p3')",
	"SELECT * FROM schemamig.upgrade()",
	"SELECT * FROM schemamig.downgrade()",
	"SELECT schemamig.stamp('base')",
	"BEGIN; SELECT schemamig.begin_revision('p5'); COMMIT",
	"SELECT * FROM schemamig.plan(execute => true)",
	"SELECT * FROM schemamig.verify()")
{
	my ($ret, $stdout, $stderr) = $standby->psql('postgres', $call, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	like($stderr, qr/ERROR:  25006: cannot execute .* during recovery.*HINT:  Run .* on the primary server/s,
		"refused on the standby with a hint: $call");
}

# the predicted plan runs nothing: it answers on the standby
is($standby->safe_psql('postgres',
	"SELECT statement_no || ':' || coalesce(strongest_lock, '-') FROM schemamig.plan('p3')"),
	'1:-', 'the predicted plan() answers on the standby');

# failover
$standby->promote;
is($standby->safe_psql('postgres', q{
SET client_min_messages = warning;
SELECT string_agg(revision, ',') FROM schemamig.upgrade();
}), 'p3', 'after promotion upgrade() applies p3');
my ($ret, $stdout, $stderr) = $standby->psql('postgres', 'CREATE TABLE adhoc (id int)');
like($stderr, qr/unversioned schema change blocked: CREATE TABLE/, 'the guard blocks ad-hoc DDL after promotion');
invariants_ok($standby, 'postgres', 'after promotion');
is($standby->safe_psql('postgres', "SELECT count(*) FROM schemamig.ddl_log WHERE revision = 'p3'"), '1',
	'the DDL of p3 is logged after promotion');

$standby->stop;
$primary->stop;
done_testing();
