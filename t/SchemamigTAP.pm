# Helpers shared by schemamig's TAP tests (t/*.pl), on top of
# PostgreSQL::Test::Cluster.
package SchemamigTAP;

use strict;
use warnings;
use File::Basename qw(dirname);
use PostgreSQL::Test::Utils;
use Test::More;
use Exporter 'import';

our @EXPORT = qw(new_node invariants_ok schemamig_state repo_file);

my $repo = dirname(dirname(__FILE__));

# repo_file(path): absolute path of a file of this source tree
sub repo_file
{
	my ($path) = @_;
	return "$repo/$path";
}

# new_node(name, %init_params): an initialized, started cluster with
# schemamig installed in database postgres. log_statement = all (set by
# PostgreSQL::Test::Cluster) is turned off: some tests send megabytes of SQL.
sub new_node
{
	my ($name, %params) = @_;
	my $conf = delete $params{conf} // '';
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%params);
	$node->append_conf('postgresql.conf', "log_statement = none\n$conf");
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION schemamig');
	return $node;
}

# invariants_ok(node, db, name): schemamig's catalog invariants
# (test/reliability/invariants.sql) hold
sub invariants_ok
{
	my ($node, $db, $name) = @_;
	my $bad = $node->safe_psql($db, slurp_file(repo_file('test/reliability/invariants.sql')));
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is($bad, '', "invariants hold: $name");
}

# schemamig_state(node, db): everything schemamig records, and the schema,
# as one string to compare before and after an event
sub schemamig_state
{
	my ($node, $db) = @_;
	return $node->safe_psql($db, q{
SELECT (SELECT string_agg(revision, ',' ORDER BY seq) FROM schemamig.applied),
       (SELECT string_agg(id || ':' || coalesce(revision, '-') || ':' || action, ',' ORDER BY id) FROM schemamig.journal),
       (SELECT string_agg(id || ':' || coalesce(revision, '-') || ':' || statement, ',' ORDER BY id) FROM schemamig.ddl_log),
       (SELECT string_agg(revision || ':' || checksum || ':' || parents::text, ',' ORDER BY seq) FROM schemamig.revision),
       (SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'),
       schemamig.fingerprint(),
       (SELECT "current"::text || ' drift=' || coalesce(drift::text, '?') FROM schemamig.status());
});
}

1;
