# Hostile input (test/reliability/hostile.py): thousands of malformed, huge
# and random scripts and ids for register(), lint(), upgrade(), downgrade(),
# stamp() and unregister(). Every call ends in success or an error with a
# SQLSTATE (never an internal error), a failed call leaves nothing behind,
# the catalog invariants hold (checked by hostile.py), and afterwards the
# postmaster is the same process and no backend died of a signal.
# HOSTILE_CALLS scales it (make soak raises it), HOSTILE_SEED reproduces a run.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SchemamigTAP;
use Test::More;

my $node = new_node('hostile');
$node->safe_psql('postgres', 'CREATE DATABASE hostile');
my $pid_file = $node->data_dir . '/postmaster.pid';
my ($pm_before) = split /\n/, slurp_file($pid_file);
my $log_offset = -s $node->logfile;

my $seed = $ENV{HOSTILE_SEED} // int(rand(32768));
my $calls = $ENV{HOSTILE_CALLS} // 2000;
note "seed $seed (HOSTILE_SEED=$seed reproduces this run)";
{
	local $ENV{PGHOST} = $node->host;
	local $ENV{PGPORT} = $node->port;
	my $dir = repo_file('test/reliability');
	my ($stdout, $stderr);
	my $ok = IPC::Run::run([ '/usr/bin/python3', "$dir/hostile.py", 'hostile', $calls, $seed ],
		'>', \$stdout, '2>', \$stderr);
	note $stdout;
	ok($ok, "hostile.py: $calls calls, seed $seed") or diag "$stdout\n$stderr";
}

my ($pm_after) = split /\n/, slurp_file($pid_file);
is($pm_after, $pm_before, 'the postmaster never restarted');
ok(!$node->log_contains(qr/terminated by signal|was terminated|server process .* exited/, $log_offset),
	'no backend crashed');

$node->stop;
done_testing();
