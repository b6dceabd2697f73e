# The extension owner, no superuser, dumps its own database and restores it
# into a new one with the history (issue #20): CREATE EXTENSION under
# schemamig.restoring opens a restore window for that role only; a stranger
# with the same setting stays blocked; nothing new is written into the
# half-restored history; end_restore() closes the window and takes the
# grants back; a database that already has the extension never gets one.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SchemamigTAP;
use Test::More;

my $node = new_node('owner_restore');
my $tmp = PostgreSQL::Test::Utils::tempdir;
$node->safe_psql('postgres', q{
CREATE ROLE app LOGIN;
CREATE ROLE stranger LOGIN;
CREATE DATABASE src OWNER app;
CREATE DATABASE dst OWNER app;
CREATE DATABASE dst2 OWNER app;
});
# before the extension exists: the dump carries it to the new database
$node->safe_psql('src', 'GRANT CREATE ON SCHEMA public TO stranger');
my %app = (extra_params => [ '-U', 'app' ]);
my %stranger = (extra_params => [ '-U', 'stranger' ]);
$node->safe_psql('src', q{
SET client_min_messages = error;
CREATE EXTENSION schemamig;
SELECT schemamig.register('o' || g, 'CREATE TABLE o' || g || ' (id int PRIMARY KEY)', 'DROP TABLE o' || g)
  FROM generate_series(1, 40) g;
SELECT count(*) FROM schemamig.upgrade();
INSERT INTO o1 VALUES (1), (2);
}, %app);
my $before = schemamig_state($node, 'src');

# the owner dumps its own database (SELECT on the sequences too)
my $src = $node->connstr('src') . ' user=app';
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$tmp/own.dump", '-d', $src ], 'the owner dumps its own database');

{
	local $ENV{PGOPTIONS} = '-c schemamig.restoring=on';
	$node->command_ok([ 'pg_restore', '--no-owner', '-j', '4', '-d', $node->connstr('dst') . ' user=app', "$tmp/own.dump" ],
		'the owner restores it with pg_restore --no-owner -j 4');
	# a stranger with the same setting is not restoring anything
	my ($ret, $out, $err) = $node->psql('dst', 'CREATE TABLE stranger_t (id int)', %stranger);
	like($err, qr/unversioned schema change blocked/, 'a stranger with schemamig.restoring on stays blocked in the window');
}

is($node->safe_psql('dst', 'SELECT count(*) FROM o1', %app), '2', 'data restored');
my ($ret, $out, $err) = $node->psql('dst', "SELECT schemamig.register('late', 'CREATE TABLE late ()')", %app);
like($err, qr/a restore of this database is not finished/, 'no new history while the window is open');
($ret, $out, $err) = $node->psql('dst', 'SELECT schemamig.end_restore()', %stranger);
like($err, qr/permission denied/, 'a stranger cannot end the restore');
$node->safe_psql('dst', 'SELECT schemamig.end_restore()', %app);
is(schemamig_state($node, 'dst'), $before, 'history, applied set, log, fingerprint and status arrived, no drift');
invariants_ok($node, 'dst', 'after the owner restore');
is($node->safe_psql('dst', q{SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a
	WHERE c.relnamespace = 'schemamig'::regnamespace AND a.grantee = 'app'::regrole
	AND a.privilege_type IN ('INSERT', 'UPDATE')}), '0', 'the window\'s grants are taken back');

# after the window: the owner's setting is ignored like anyone's
{
	local $ENV{PGOPTIONS} = '-c schemamig.restoring=on';
	($ret, $out, $err) = $node->psql('dst', 'CREATE TABLE after_t (id int)', %app);
	like($err, qr/unversioned schema change blocked/, 'after end_restore() the owner is guarded again');
	($ret, $out, $err) = $node->psql('dst', 'INSERT INTO schemamig.journal (revision, action) VALUES (NULL, \'stamp\')', %app);
	like($err, qr/permission denied/, 'and cannot write the history');
	# a database that has the extension never opens a window
	($ret, $out, $err) = $node->psql('src', 'CREATE TABLE src_t (id int)', %app);
	like($err, qr/unversioned schema change blocked/, 'restoring on in a database with the extension changes nothing for the owner');
}
$node->safe_psql('dst', q{SET client_min_messages = error;
	SELECT schemamig.register('o41', 'CREATE TABLE o41 (id int)', 'DROP TABLE o41');
	SELECT count(*) FROM schemamig.upgrade();}, %app);
is($node->safe_psql('dst', 'SELECT count(*) FROM schemamig.applied', %app), '41', 'the restored database migrates on');
$node->safe_psql('dst2', 'CREATE EXTENSION schemamig', %app);
($ret, $out, $err) = $node->psql('dst2', 'SELECT schemamig.end_restore()', %app);
like($err, qr/no restore of this database is open/, 'end_restore() without a window is refused');

$node->stop;
done_testing();
