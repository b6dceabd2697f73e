# pg_dump of a database under schemamig, restored with the documented
# procedure (PGOPTIONS='-c schemamig.restoring=on') into new databases: in
# custom format with pg_restore, with a parallel pg_restore -j 4 (custom
# and directory format), and in plain format through psql. Revisions,
# applied set, journal, DDL log, event triggers, fingerprint, status and
# schema arrive; the restore mode is no hole for an ordinary role; the
# restored database is guarded and upgrade() continues.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SchemamigTAP;
use Test::More;

my $node = new_node('dump');
my $tmp = PostgreSQL::Test::Utils::tempdir;
$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
SET client_min_messages = warning;
CREATE EXTENSION schemamig;
SELECT schemamig.register('d1', 'CREATE TABLE users (id int PRIMARY KEY, email text)', 'DROP TABLE users');
SELECT schemamig.register('d2', 'ALTER TABLE users ADD COLUMN bio text', 'ALTER TABLE users DROP COLUMN bio');
SELECT schemamig.register('d3', 'CREATE INDEX users_email_idx ON users (email)', 'DROP INDEX users_email_idx');
SELECT count(*) FROM schemamig.upgrade('d2');
BEGIN;
SELECT schemamig.begin_revision('d2b');
CREATE VIEW user_emails AS SELECT email FROM users;
COMMIT;
-- a longer history on a branch of its own, so that a parallel restore has
-- rows to load in any order
SELECT schemamig.register('h' || g, 'CREATE TABLE h' || g || ' (id int)', 'DROP TABLE h' || g,
       CASE WHEN g = 1 THEN '{}'::text[] ELSE ARRAY['h' || (g - 1)] END)
  FROM generate_series(1, 300) g;
SELECT count(*) FROM schemamig.upgrade('h300');
});

my $connstr = $node->connstr('src');
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$tmp/db.dump", '-d', $connstr ], 'pg_dump -Fc');
$node->command_ok([ 'pg_dump', '-Fd', '-f', "$tmp/db.dir", '-d', $connstr ], 'pg_dump -Fd');
$node->command_ok([ 'pg_dump', '-Fp', '-f', "$tmp/db.sql", '-d', $connstr ], 'pg_dump -Fp');

my %restore = (
	custom => [ 'pg_restore', "$tmp/db.dump" ],
	parallel1 => [ 'pg_restore', '-j', '4', "$tmp/db.dump" ],
	parallel2 => [ 'pg_restore', '-j', '4', "$tmp/db.dump" ],
	parallel3 => [ 'pg_restore', '-j', '4', "$tmp/db.dir" ],
	plain => [ 'psql', '-qX', '-v', 'ON_ERROR_STOP=1', '-f', "$tmp/db.sql" ]);
{
	local $ENV{PGOPTIONS} = '-c schemamig.restoring=on';
	for my $db (sort keys %restore)
	{
		$node->safe_psql('postgres', "CREATE DATABASE $db");
		my ($tool, @args) = @{ $restore{$db} };
		$node->command_ok([ $tool, '-d', $node->connstr($db), @args ], "restore: $db (@{ $restore{$db} }[0..$#{ $restore{$db} } - 1])");
	}
}

for my $sql (
	"SELECT string_agg(revision || ':' || checksum || ':' || parents::text, ',' ORDER BY seq) FROM schemamig.revision",
	"SELECT string_agg(revision, ',' ORDER BY seq) FROM schemamig.applied",
	"SELECT string_agg(id || revision || action, ',' ORDER BY id) FROM schemamig.journal",
	"SELECT string_agg(id || coalesce(revision, '-') || statement, ',' ORDER BY id) FROM schemamig.ddl_log",
	"SELECT string_agg(evtname::text || evtenabled::text, ',' ORDER BY evtname) FROM pg_event_trigger",
	"SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'users'",
	"SELECT schemamig.fingerprint()",
	"SELECT fingerprint || generation FROM schemamig.state",
	"SELECT row_to_json(s)::text FROM schemamig.status() s",
	"SELECT string_agg(revision || applied::text || is_current::text, ',') FROM schemamig.history()")
{
	my $want = $node->safe_psql('src', $sql);
	for my $db (sort keys %restore)
	{
		is($node->safe_psql($db, $sql), $want, "$db equals the source: $sql");
	}
}
for my $db (sort keys %restore)
{
	invariants_ok($node, $db, "restored $db");
}

# the restore mode is no hole: only a superuser can turn it on, by any route
$node->safe_psql('postgres', 'CREATE ROLE dump_intruder LOGIN');
$node->safe_psql('custom', 'SET schemamig.guard = off; GRANT CREATE ON SCHEMA public TO dump_intruder');
{
	local $ENV{PGOPTIONS} = '-c schemamig.restoring=on';
	my ($ret, $stdout, $stderr) = $node->psql('custom', 'CREATE TABLE intruder (id int)',
		extra_params => [ '-U', 'dump_intruder' ]);
	like($stderr, qr/unversioned schema change blocked/, 'PGOPTIONS restoring=on does not let an ordinary role through');
}
# the setting is anyone's to SET (the owner's restore window needs that,
# t/006_owner_restore.pl), but it is honoured only for superusers and the
# window's role: with the library loaded first, still blocked
my ($ret, $stdout, $stderr) = $node->psql('custom', 'SELECT FROM schemamig.status(); SET schemamig.restoring = on; CREATE TABLE intruder (id int)',
	extra_params => [ '-U', 'dump_intruder' ]);
like($stderr, qr/unversioned schema change blocked/, 'SET schemamig.restoring = on does not let an ordinary role through');
# the ad-hoc GRANT is undone, else the next upgrade() refuses the drift (SM008)
$node->safe_psql('custom', 'SET schemamig.guard = off; REVOKE CREATE ON SCHEMA public FROM dump_intruder');

# the restored databases are guarded, and new rows get fresh keys
for my $db (sort keys %restore)
{
	($ret, $stdout, $stderr) = $node->psql($db, 'CREATE TABLE adhoc (id int)');
	like($stderr, qr/unversioned schema change blocked/, "guard active after restore: $db");
	is($node->safe_psql($db, q{
SET client_min_messages = warning;
SELECT string_agg(revision, ',') FROM schemamig.upgrade();
SELECT count(*) FROM schemamig.applied;
}), "d3\n304", "upgrade continues after restore: $db");
	invariants_ok($node, $db, "after upgrade in restored $db");
}

# the references to revision are checked again once the restore is over
($ret, $stdout, $stderr) = $node->psql('custom',
	"INSERT INTO schemamig.applied (revision, checksum) VALUES ('no_such_revision', 'x')");
like($stderr, qr/violates foreign key constraint "applied_revision_fkey"/, 'applied refers to registered revisions');
($ret, $stdout, $stderr) = $node->psql('custom', "DELETE FROM schemamig.revision WHERE revision = 'd1'");
like($stderr, qr/violates foreign key constraint "applied_revision_fkey" on table "applied"/,
	'an applied revision cannot be deleted');

$node->stop;
done_testing();
