# Extension upgrades: for every released version (a full install script
# schemamig--X.sql among the installed extension files), install it, put a
# migration history on it, run ALTER EXTENSION schemamig UPDATE inside a
# revision (it is DDL), and compare the extension's objects with a fresh
# install of the default version: a catalog description of every member
# object (functions with their definitions, tables with columns, defaults,
# constraints, indexes and triggers, event triggers, ACLs, config dump
# settings). The history must survive and keep working, and the catalog
# invariants hold.
#
# The hook for the real update: install_old() installs the old version's
# objects with the library of this tree (CREATE EXTENSION ... VERSION). The
# update from a database that ran the 0.1.0 library built from git tag
# v0.1.0 belongs to the versions issue (#15), which replaces install_old()
# and keeps the comparisons below.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SchemamigTAP;
use Test::More;

my $node = new_node('upgrade');
my $sharedir = $node->config_data('--sharedir') . '/extension';
my ($default) = slurp_file(repo_file('schemamig.control')) =~ /^default_version\s*=\s*'([^']+)'/m;
opendir(my $dh, $sharedir) or die "cannot read $sharedir: $!";
my @versions = sort { version_cmp($a, $b) } map { /^schemamig--([^-]+)\.sql$/ ? $1 : () } readdir($dh);
closedir($dh);
ok(scalar(@versions) > 0, "released versions installed: @versions");

sub version_cmp
{
	my @a = split /\./, $_[0];
	my @b = split /\./, $_[1];
	for my $i (0 .. 2)
	{
		my $c = ($a[$i] // 0) <=> ($b[$i] // 0);
		return $c if $c;
	}
	return 0;
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

# install_old(db, version): the released version, as it was installed
sub install_old
{
	my ($db, $v) = @_;
	$node->safe_psql($db, "CREATE EXTENSION schemamig VERSION '$v'");
}

for my $v (@versions)
{
	my $db = 'old_' . ($v =~ s/\W/_/gr);
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	install_old($db, $v);
	$node->safe_psql($db, qq{
SET client_min_messages = warning;
SELECT schemamig.register('u1', 'CREATE TABLE u1 (id int)', 'DROP TABLE u1');
SELECT schemamig.register('u2', 'ALTER TABLE u1 ADD COLUMN v text', 'ALTER TABLE u1 DROP COLUMN v');
SELECT count(*) FROM schemamig.upgrade('u1');
BEGIN;
SELECT schemamig.begin_revision('schemamig-update-from-$v');
ALTER EXTENSION schemamig UPDATE;
COMMIT;
});
	is($node->safe_psql($db, $describe), $want,
		"$v updated to $default: extension objects equal a fresh install ($lines lines of catalog description)");
	is($node->safe_psql($db, q{
SET client_min_messages = warning;
SELECT string_agg(revision, ',') FROM schemamig.upgrade();
SELECT string_agg(revision, ',' ORDER BY seq) FROM schemamig.applied;
SELECT extversion FROM pg_extension WHERE extname = 'schemamig';
}), "u2\nu1,schemamig-update-from-$v,u2\n$default", "$v -> $default: history intact and still working");
	invariants_ok($node, $db, "after updating from $v");
}

$node->stop;
done_testing();
