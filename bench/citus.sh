#!/bin/bash
# A revision on a distributed table against the same DDL through plain Citus
# (issue #16, target <= 1.2x).  Two throwaway 3-node clusters (test/citus/
# cluster.sh), one after the other: plain Citus (shared_preload_libraries =
# 'citus'), then Citus + schemamig with every node under enforce.  Each round
# adds a column and an index to a 32-shard distributed table and drops them
# again: plain = `BEGIN; DDL; COMMIT`, schemamig = `upgrade()` of a revision
# registered beforehand (register() is timed apart).  Median of N rounds.
# Needs citus.so in PG_BIN's PostgreSQL (test/citus/run.sh builds it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
N=${N:-15}
. test/lib.sh
. test/citus/cluster.sh

ms() { local s=$(date +%s%N); "$@" >/dev/null; echo $(( ($(date +%s%N) - s) / 1000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ddl() { echo "ALTER TABLE t ADD COLUMN c$1 int; CREATE INDEX t_c$1 ON t (c$1); DROP INDEX t_c$1; ALTER TABLE t DROP COLUMN c$1;"; }

CITUS_PRELOAD=citus citus_cluster_start
citus_add_worker w1; citus_add_worker w2
cq coord "CREATE TABLE t (id bigint PRIMARY KEY, v text); SELECT create_distributed_table('t', 'id')" >/dev/null
plain=$(for i in $(seq $N); do ms cq coord "BEGIN; $(ddl $i) COMMIT;"; done | median)
citus_cluster_stop; trap - EXIT

citus_cluster_start
citus_add_worker w1; citus_add_worker w2
cq coord "CREATE EXTENSION schemamig" >/dev/null
cq coord "SELECT schemamig.citus_sync_key()" >/dev/null
cq coord "SELECT schemamig.register('t', \$\$CREATE TABLE t (id bigint PRIMARY KEY, v text); SELECT create_distributed_table('t', 'id')\$\$)" >/dev/null
cq coord "SELECT * FROM schemamig.upgrade()" >/dev/null 2>&1
reg=() up=()
parent=t
for i in $(seq $N); do
	reg+=("$(ms cq coord "SET schemamig.lint = off; SELECT schemamig.register('r$i', '$(ddl $i)', NULL, ARRAY['$parent'])")")
	up+=("$(ms cq coord "SELECT * FROM schemamig.upgrade()")")
	parent=r$i
done
up_med=$(printf '%s\n' "${up[@]}" | median)
reg_med=$(printf '%s\n' "${reg[@]}" | median)
echo "plain Citus, BEGIN; DDL; COMMIT:   $((plain / 1000)) ms (median of $N)"
echo "schemamig upgrade() of a revision: $((up_med / 1000)) ms (median of $N)"
echo "register() of the revision:        $((reg_med / 1000)) ms (median of $N)"
echo "SUMMARY citus: upgrade() / plain = $(echo "scale=2; $up_med / $plain" | bc)x (target <= 1.2x)"
