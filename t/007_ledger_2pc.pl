# The ledger under two-phase commit across a crash (src/ledger_link.c):
# two prepared transactions that appended ledger rows, both pending, survive
# an immediate shutdown; after the restart they are resolved, COMMIT
# PREPARED and ROLLBACK PREPARED in either order, and the chain verifies
# every time: each committed one is linked at its COMMIT PREPARED, a
# rolled-back one leaves nothing.  The server log names the pending batch
# at PREPARE and the head once linked.  fsync on, as in production.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SchemamigTAP;
use Test::More;

my $node = new_node('ledger2pc',
	conf => "fsync = on\nmax_prepared_transactions = 10\nshared_preload_libraries = 'schemamig'\n");

sub prepare_two
{
	my ($tag) = @_;
	$node->safe_psql('postgres', qq{
SET client_min_messages = warning;
SET schemamig.guard = off;
SET lock_timeout = '2s';
BEGIN; CREATE TABLE ${tag}_a (id int); CREATE INDEX ON ${tag}_a (id); PREPARE TRANSACTION '${tag}_a';
BEGIN; CREATE TABLE ${tag}_b (id int); PREPARE TRANSACTION '${tag}_b';
});
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE '${tag}_%'"),
		'2', "$tag: two prepared ledger writers pending at once");
}

sub verified
{
	my ($what, $links, $pending) = @_;
	is($node->safe_psql('postgres', q{
SELECT v.ok || ' ' || (SELECT count(*) FROM schemamig.ledger) || ' ' ||
       (SELECT count(*) FROM schemamig.ledger_pending) || ' ' || s.ledger_ok
  FROM schemamig.verify_ledger() v, schemamig.status() s}),
		"true $links $pending true", "$what: the chain verifies ($links links, $pending waiting)");
}

my $links = $node->safe_psql('postgres', 'SELECT count(*) FROM schemamig.ledger');

# ---- 1. crash with both pending; commit b, then roll a back
prepare_two('p1');
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', "SELECT string_agg(gid, ',' ORDER BY gid) FROM pg_prepared_xacts"),
	'p1_a,p1_b', 'both prepared transactions survive the crash');
verified('after the restart', $links, 0);
$node->safe_psql('postgres', "COMMIT PREPARED 'p1_b'");
verified('COMMIT PREPARED of the second', ++$links, 0);
$node->safe_psql('postgres', "ROLLBACK PREPARED 'p1_a'");
verified('ROLLBACK PREPARED of the first', $links, 0);
is($node->safe_psql('postgres', "SELECT to_regclass('p1_a') IS NULL AND to_regclass('p1_b') IS NOT NULL"),
	't', 'the committed table is there, the rolled-back one is not');

# ---- 2. crash with both pending; roll b back, then commit a
prepare_two('p2');
$node->stop('immediate');
$node->start;
$node->safe_psql('postgres', "ROLLBACK PREPARED 'p2_b'");
verified('ROLLBACK PREPARED of the second', $links, 0);
$node->safe_psql('postgres', "COMMIT PREPARED 'p2_a'");
verified('COMMIT PREPARED of the first', ++$links, 0);

# ---- 3. both committed, in prepare order, then an ordinary commit
prepare_two('p3');
$node->safe_psql('postgres', "COMMIT PREPARED 'p3_a'");
$node->safe_psql('postgres', "COMMIT PREPARED 'p3_b'");
$links += 2;
verified('both committed', $links, 0);
is($node->safe_psql('postgres', q{
SELECT string_agg(l.ddl_rows::text, ',' ORDER BY l.seq) FROM schemamig.ledger l
  JOIN (SELECT DISTINCT ledger_batch FROM schemamig.ddl_log WHERE statement LIKE '%p3_%') d
    ON d.ledger_batch = l.batch}), '2,1', 'each prepared transaction has its own link, in commit order');

# ---- the server log: the pending batch at PREPARE, the head once linked
my $log = slurp_file($node->logfile);
like($log, qr/schemamig ledger batch \d+ pending on prepared transaction \d+: linked after its COMMIT PREPARED/,
	'PREPARE logs the pending batch');
my $head = $node->safe_psql('postgres',
	"SELECT split_part(detail, ' head ', 2) FROM schemamig.verify_ledger()");
like($log, qr/schemamig ledger head \Q$head\E/, 'the head made at COMMIT PREPARED is logged');

invariants_ok($node, 'postgres', 'after the prepared transactions');
done_testing();
