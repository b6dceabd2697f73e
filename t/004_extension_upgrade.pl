# ALTER EXTENSION schemamig UPDATE from the released 0.1.0, for real (SPEC
# "Release and upgrade"):
#
# 1. The 0.1.0 tree (git tag v0.1.0, or its commit when a clone has no
#    tags) is built and installed into this server, and a database gets
#    0.1.0's objects and a migration history written by 0.1.0's library:
#    revisions, an upgrade, a revision opened by hand, a blocked ad-hoc DDL.
# 2. This tree is installed again, as a package update would: its library
#    now runs against the not-yet-updated 0.1.0 objects.  Every function of
#    0.1.0 is called (with NULLs and with ordinary values): each works or
#    fails cleanly, status() and upgrade() refuse with the hint to run
#    ALTER EXTENSION schemamig UPDATE, the guard still blocks DDL, and the
#    server never crashes (its start time does not change).
# 3. ALTER EXTENSION schemamig UPDATE: the extension's objects equal a fresh
#    install (a catalog description of every member object: functions with
#    their definitions, tables with columns, defaults, constraints, indexes
#    and triggers, event triggers, ACLs, config dump settings), the history
#    is intact and keeps working, the stored fingerprint is now in this
#    release's format with a journal row of action 'baseline', no drift.
#
# 0.1.0 was released for PostgreSQL 15 only (it does not build on 16+).  On
# another major, or without git history, step 1 creates the 0.1.0 objects
# with this tree's library and its schemamig--0.1.0.sql, and no history.
#
# The server's installation is never touched: the test runs a cluster of a
# private copy of it (bin, lib, share: PostgreSQL finds its directories
# relative to its programs), into which each tree is installed in turn.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use File::Basename qw(dirname);
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SchemamigTAP;
use Test::More;

my $RELEASE = '0.1.0';
my $RELEASE_COMMIT = '5fcf6e706da91c6105d043daf1f625809a7e68d7';    # git tag v0.1.0
my $repo = repo_file('.');
my ($default) = slurp_file(repo_file('schemamig.control')) =~ /^default_version\s*=\s*'([^']+)'/m;

# a private copy of the installation that pg_config on PATH describes, with
# the headers and PGXS to build against it
my %dir;
for my $d (qw(bindir sharedir pkglibdir includedir pkgincludedir includedir-server))
{
	($dir{$d} = `pg_config --$d`) =~ s/\s+$//;
}
my $inst = PostgreSQL::Test::Utils::tempdir();
for my $d (dirname($dir{bindir}), @dir{qw(sharedir pkglibdir includedir pkgincludedir includedir-server)})
{
	next if -d "$inst$d";
	make_path(dirname("$inst$d"));
	system('cp', '-a', $d, "$inst$d") == 0 or die "cannot copy $d";
}
my $pg_config = "$inst$dir{bindir}/pg_config";
command_ok([ 'make', '-C', $repo, '-s', "PG_CONFIG=$pg_config", 'install' ],
	'this tree installed into a private copy of the installation');
my $node = PostgreSQL::Test::Cluster->new('upgrade', install_path => dirname("$inst$dir{bindir}"));
$node->init;
$node->append_conf('postgresql.conf', 'log_statement = none');
$node->start;
my $major = int($node->safe_psql('postgres', 'SHOW server_version_num') / 10000);

# the released tree: the tag, else its commit; checked to be 0.1.0
my $git = "git -c safe.directory='*' -C '$repo'";
my $ref;
if ($major == 15 && system("$git rev-parse --git-dir >/dev/null 2>&1") == 0)
{
	for my $r ("v$RELEASE^{commit}", "$RELEASE_COMMIT^{commit}")
	{
		my $c = `$git rev-parse -q --verify '$r' 2>/dev/null`;
		chomp $c;
		if ($c ne '') { $ref = $c; last; }
	}
	ok(defined $ref, "the $RELEASE release is in this clone (tag v$RELEASE or commit $RELEASE_COMMIT)")
	  or BAIL_OUT('fetch the tags: git fetch --tags');
	like(`$git show '$ref:schemamig.control'`, qr/^default_version = '\Q$RELEASE\E'/m,
		"$ref is the $RELEASE release");
}
else
{
	note("no $RELEASE library: PostgreSQL $major, or no git history");
}

my $describe = q{
SELECT string_agg(d, E'\n' ORDER BY d) FROM (
  SELECT pg_describe_object(classid, objid, 0) || CASE classid
	WHEN 'pg_proc'::regclass THEN ' ' || pg_get_functiondef(objid) || coalesce(array_to_string((SELECT proacl FROM pg_proc WHERE oid = objid), ','), '')
	WHEN 'pg_class'::regclass THEN ' ' || (SELECT relkind::text || coalesce(relacl::text, '')
		|| coalesce((SELECT string_agg(attname::text || ':' || format_type(atttypid, atttypmod) || attnotnull || coalesce(pg_get_expr(adbin, adrelid), ''), ',' ORDER BY attnum)
			FROM pg_attribute LEFT JOIN pg_attrdef ON adrelid = attrelid AND adnum = attnum WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped), '')
		|| coalesce((SELECT string_agg(pg_get_constraintdef(oid), ',' ORDER BY conname) FROM pg_constraint WHERE conrelid = c.oid), '')
		|| coalesce((SELECT string_agg(pg_get_indexdef(indexrelid), ',' ORDER BY indexrelid::regclass::text) FROM pg_index WHERE indrelid = c.oid), '')
		|| coalesce((SELECT string_agg(pg_get_triggerdef(t.oid) || t.tgenabled::text, ',' ORDER BY tgname) FROM pg_trigger t WHERE tgrelid = c.oid AND NOT tgisinternal), '')
		FROM pg_class c WHERE c.oid = objid)
	WHEN 'pg_event_trigger'::regclass THEN ' ' || (SELECT evtevent || evtenabled::text || evtfoid::regproc::text FROM pg_event_trigger WHERE oid = objid)
	ELSE '' END AS d
  FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
	AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'schemamig')
  UNION ALL
  SELECT 'config ' || extconfig::regclass[]::text || coalesce(extcondition::text, '') || extversion || extrelocatable FROM pg_extension WHERE extname = 'schemamig'
  UNION ALL
  SELECT 'schema ' || nspowner::regrole || coalesce(nspacl::text, '') FROM pg_namespace WHERE nspname = 'schemamig'
) s};

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION schemamig');
my $want = $node->safe_psql('fresh', $describe);
my $lines = () = $want =~ /\n/g;
$node->safe_psql('postgres', 'CREATE DATABASE old');

# 1. 0.1.0 objects, and a history written by 0.1.0's library ---------------
my $history = '';
if (defined $ref)
{
	my $build = PostgreSQL::Test::Utils::tempdir();
	system("$git archive '$ref' | tar -x -C '$build'") == 0 or die "git archive $ref failed";
	# no JIT bitcode: only the library is needed, in half the time
	command_ok([ 'make', '-C', $build, '-s', '-j2', "PG_CONFIG=$pg_config", 'with_llvm=no' ], "the $RELEASE tree builds");
	command_ok([ 'make', '-C', $build, '-s', "PG_CONFIG=$pg_config", 'with_llvm=no', 'install' ], "the $RELEASE tree installs");
	$node->safe_psql('old', q{
SET client_min_messages = error;
CREATE EXTENSION schemamig;
SELECT schemamig.register('u1', 'CREATE TABLE u1 (id int PRIMARY KEY)', 'DROP TABLE u1');
SELECT schemamig.register('u2', 'ALTER TABLE u1 ADD COLUMN v text', 'ALTER TABLE u1 DROP COLUMN v');
SELECT schemamig.register('u3', 'CREATE INDEX u1_v ON u1 (v)', 'DROP INDEX u1_v', '{u2}');
SELECT count(*) FROM schemamig.upgrade('u1');
BEGIN;
SELECT schemamig.begin_revision('u1b');
CREATE VIEW u1_ids AS SELECT id FROM u1;
COMMIT;
});
	my ($ret, $out, $err) = $node->psql('old', 'CREATE TABLE adhoc (id int)');
	like($err, qr/unversioned schema change blocked/, "$RELEASE: its guard blocks ad-hoc DDL");
	$history = 'u1,u1b';
}
else
{
	$node->safe_psql('old', "CREATE EXTENSION schemamig VERSION '$RELEASE'");
	note("$RELEASE objects from schemamig--$RELEASE.sql (PostgreSQL $major: no $RELEASE library to write a history with)");
}
is($node->safe_psql('old', "SELECT extversion FROM pg_extension WHERE extname = 'schemamig'"), $RELEASE,
	"a database with $RELEASE objects");
my $log_rows = $node->safe_psql('old', 'SELECT count(*) FROM schemamig.ddl_log');
my $journal_rows = $node->safe_psql('old', 'SELECT count(*) FROM schemamig.journal');

# 2. this tree's library against the 0.1.0 objects --------------------------
command_ok([ 'make', '-C', $repo, '-s', "PG_CONFIG=$pg_config", 'install' ], "this tree installed over $RELEASE");
my $started = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
# every function of 0.1.0 but the trigger functions, with NULLs and with values
my @calls = split /\n/, $node->safe_psql('old', q{
SELECT format('SELECT %s(%s)', p.oid::regproc, coalesce(string_agg(a.val, ', ' ORDER BY a.n), ''))
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'schemamig'
CROSS JOIN (VALUES (false), (true)) v(with_values)
LEFT JOIN LATERAL unnest(p.proargtypes::oid[]) WITH ORDINALITY a0(t, n) ON true
LEFT JOIN LATERAL (SELECT a0.n, CASE WHEN NOT v.with_values THEN 'NULL::' || format_type(a0.t, NULL)
	ELSE CASE format_type(a0.t, NULL)
		WHEN 'text' THEN quote_literal('u2') WHEN 'text[]' THEN '''{u1}''::text[]'
		WHEN 'boolean' THEN 'false' WHEN 'integer' THEN '1' WHEN 'bigint' THEN '1'
		ELSE 'NULL::' || format_type(a0.t, NULL) END END AS val) a ON true
WHERE p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype) AND p.prokind = 'f'
GROUP BY p.oid, p.prokind, v.with_values});
my $crashed = '';
for my $call (@calls)
{
	my ($ret, $out, $err) = $node->psql('old', "SET client_min_messages = warning; $call");
	$crashed .= "$call: $err\n" if $err =~ /server closed the connection|terminated abnormally|connection to server .* failed/;
}
is($crashed, '', scalar(@calls) . " calls of every $RELEASE function against the $default library: no crash");
for my $call ('SELECT * FROM schemamig.status()', 'SELECT * FROM schemamig.upgrade()')
{
	my ($ret, $out, $err) = $node->psql('old', "\\set VERBOSITY verbose\n$call");
	like($err, qr/ERROR:  55000: schemamig's objects in this database are version \Q$RELEASE\E, its library is version \Q$default\E.*HINT:  Run ALTER EXTENSION schemamig UPDATE/s,
		"$call against $RELEASE objects refuses with the hint to update");
}
my ($ret, $out, $err) = $node->psql('old', 'CREATE TABLE adhoc (id int)');
like($err, qr/unversioned schema change blocked/, "the guard blocks DDL against $RELEASE objects");
is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'), $started, 'the server never restarted');

# 3. ALTER EXTENSION schemamig UPDATE ---------------------------------------
$node->safe_psql('old', 'ALTER EXTENSION schemamig UPDATE');
is($node->safe_psql('old', $describe), $want,
	"$RELEASE updated to $default: extension objects equal a fresh install ($lines lines of catalog description)");
is($node->safe_psql('old', 'SELECT count(*) FROM schemamig.ddl_log'), $log_rows, 'the DDL log is intact');
if ($history ne '')
{
	is($node->safe_psql('old', q{
SELECT count(*) FILTER (WHERE action = 'baseline' AND revision IS NULL
	AND target = 'fingerprint format ' || (SELECT fingerprint_format FROM schemamig.state)) || ',' || count(*)
FROM schemamig.journal}), '1,' . ($journal_rows + 1), 'the fingerprint is stored again in the new format, with one journal row');
	is($node->safe_psql('old', q{
SELECT (SELECT drift::text FROM schemamig.status()) || ',' || (SELECT count(*) FROM schemamig.drift())}),
		'false,0', 'no drift after the update');
	is($node->safe_psql('old', q{SELECT string_agg(revision, ',' ORDER BY seq) FROM schemamig.applied}),
		$history, 'the applied set is intact');
	is($node->safe_psql('old', q{
SET client_min_messages = warning;
SELECT string_agg(revision, ',') FROM schemamig.upgrade();
SELECT drift FROM schemamig.status();
}), "u2,u3\nf", 'upgrade() continues the history, without drift');
	invariants_ok($node, 'old', "after updating from $RELEASE");
}
($ret, $out, $err) = $node->psql('old', 'CREATE TABLE adhoc (id int)');
like($err, qr/unversioned schema change blocked/, 'the guard blocks DDL after the update');

$node->stop;
done_testing();
