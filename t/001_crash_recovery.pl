# Crashes in the middle of a long upgrade (a revision that sleeps): kill -9
# of the backend, then an immediate shutdown of the server. After restart
# the database is exactly where it was before the call (applied set,
# journal, DDL log, revisions, schema fingerprint, tables), the catalog
# invariants hold, records committed earlier are all there, and a new
# upgrade() applies the revisions once. fsync on, as in production.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SchemamigTAP;
use Test::More;

my $node = new_node('crash', conf => "fsync = on\nrestart_after_crash = on\n");
$node->safe_psql('postgres', q{
SET client_min_messages = warning;
SELECT schemamig.register('c1', 'CREATE TABLE c1 (id int PRIMARY KEY)', 'DROP TABLE c1 -- schemamig:allow drop-table');
SELECT schemamig.register('c2', 'CREATE TABLE c2 (id int PRIMARY KEY, c1_id int REFERENCES c1); CREATE INDEX ON c2 (c1_id)', 'DROP TABLE c2 -- schemamig:allow drop-table');
-- the long one: creates a table, sleeps while the test crashes the server, adds a column
SELECT schemamig.register('c3', $$CREATE TABLE c3 (id int);
SELECT pg_sleep(coalesce(current_setting('crashtest.sleep', true), '0')::float8);
ALTER TABLE c2 ADD COLUMN note text$$, 'DROP TABLE c3; ALTER TABLE c2 DROP COLUMN note -- schemamig:allow drop-column drop-table');
SELECT schemamig.register('c4', 'CREATE TABLE c4 (id int)', 'DROP TABLE c4 -- schemamig:allow drop-table');
SELECT count(*) FROM schemamig.upgrade('c2');
});

# start_long_upgrade: upgrade() in a background session; returns the session
# and the backend's pid once it sleeps inside revision c3
sub start_long_upgrade
{
	my $bg = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $bg->query_safe('SELECT pg_backend_pid()');
	$bg->query_until(qr/^$/, q{
SET client_min_messages = warning;
SET crashtest.sleep = 300;
SELECT * FROM schemamig.upgrade();
});
	$node->poll_query_until('postgres',
		"SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE pid = $pid")
	  or die "the upgrade never reached its sleep";
	return ($bg, $pid);
}

sub finish_upgrade
{
	my ($what) = @_;
	is($node->safe_psql('postgres', q{
SET client_min_messages = warning;
SELECT string_agg(revision, ',') FROM schemamig.upgrade();
}), 'c3,c4', "upgrade() after $what applies c3 and c4");
	invariants_ok($node, 'postgres', "after the upgrade that followed $what");
	is($node->safe_psql('postgres', q{
SELECT count(*) FILTER (WHERE action = 'upgrade') - count(*) FILTER (WHERE action = 'downgrade')
FROM schemamig.journal WHERE revision = 'c3'}), '1', "c3 applied once more than reverted after $what");
}

# ---- 1. kill -9 of the backend running upgrade() ----
my $before = schemamig_state($node, 'postgres');
my $log_offset = -s $node->logfile;
my ($bg, $pid) = start_long_upgrade();
kill 'KILL', $pid;
eval { $bg->quit };    # psql may be gone with its server
$node->poll_query_until('postgres', 'SELECT true') or die "server did not come back";
ok($node->log_contains(qr/terminated by signal 9/, $log_offset), 'the backend running upgrade() was killed');
is(schemamig_state($node, 'postgres'), $before, 'kill -9 during upgrade(): database exactly as before the call');
invariants_ok($node, 'postgres', 'after kill -9');
finish_upgrade('kill -9');

# ---- 2. immediate shutdown of the server during upgrade() ----
$node->safe_psql('postgres', "SET client_min_messages = warning; SELECT count(*) FROM schemamig.downgrade('c2')");
$before = schemamig_state($node, 'postgres');
($bg, $pid) = start_long_upgrade();
$node->stop('immediate');
eval { $bg->quit };    # psql may be gone with its server
$node->start;
is(schemamig_state($node, 'postgres'), $before, 'immediate shutdown during upgrade(): database exactly as before the call');
invariants_ok($node, 'postgres', 'after immediate shutdown');
finish_upgrade('the restart');

my ($ret, $stdout, $stderr) = $node->psql('postgres', 'CREATE TABLE adhoc (id int)');
like($stderr, qr/unversioned schema change blocked: CREATE TABLE/, 'the guard blocks ad-hoc DDL after the restart');

$node->stop;
done_testing();
