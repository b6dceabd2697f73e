# Sourced by test/citus/run.sh with a started cluster: TAP output.
set +e
T=0 FAILED=0
ok() { T=$((T + 1)); if [ "$2" = "$3" ]; then echo "ok $T - $1"; else echo "not ok $T - $1"; echo "#   expected: $2"; echo "#   got:      $3"; FAILED=$((FAILED + 1)); fi; }
# fails LABEL NODE USER SQLSTATE SQL: SQL must fail with SQLSTATE
fails() {
	local out rc
	out=$(CQ_USER=$3 cq "$2" "$5" -v VERBOSITY=verbose 2>&1); rc=$?
	T=$((T + 1))
	if [ $rc -ne 0 ] && grep -q "ERROR:  $4:" <<<"$out"; then echo "ok $T - $1"; else echo "not ok $T - $1"; echo "$out" | sed 's/^/#   /'; FAILED=$((FAILED + 1)); fi
}

# ---- setup: w1 only, then the extension, then w2 joins (Citus copies schemamig to it)
citus_add_worker w1
cq coord "CREATE ROLE app LOGIN" >/dev/null
# before schemamig exists: pgcrypto to sign test tokens, a schema app may create in
cq coord "CREATE EXTENSION pgcrypto" >/dev/null
cq coord "GRANT CREATE ON SCHEMA public TO app" >/dev/null
cq coord "CREATE EXTENSION schemamig" >/dev/null
ok "schemamig propagated to w1" "0.2.0" "$(cq w1 "SELECT extversion FROM pg_extension WHERE extname = 'schemamig'")"
fails "citus_sync_key() is superuser-only" coord app 42501 "SELECT schemamig.citus_sync_key()"
ok "citus_sync_key() copies the key to w1" "1" "$(cq coord "SELECT schemamig.citus_sync_key()")"
# poll LABEL EXPECTED CMD: CMD's output must become EXPECTED within 15 s
poll() {
	local i got
	for i in $(seq 60); do got=$(eval "$3" 2>&1); [ "$got" = "$2" ] && break; sleep 0.25; done
	ok "$1" "$2" "$got"
}
# the sha256 of NODE's key (the key itself is never printed)
key_digest() { cq "$1" "SELECT encode(sha256(key), 'hex') FROM schemamig.citus_key"; }
same_key() { [ -n "$(key_digest coord)" ] && [ "$(key_digest "$1")" = "$(key_digest coord)" ] && echo same || echo differs; }
pushed() { grep -c "LOG:  schemamig: citus key pushed to $1 nodes after a node change" "$CITUS_DIR/coord.log"; }
# ---- a node added later gets the key after citus_add_node() commits, without citus_sync_key() (citus_keypush.c)
citus_add_worker w2
ok "citus_add_node after CREATE EXTENSION schemamig" "0.2.0" "$(cq w2 "SELECT extversion FROM pg_extension WHERE extname = 'schemamig'")"
poll "w2 gets the coordinator's key from the push after citus_add_node() (sha256 compared)" "same" "same_key w2"
poll "... and the coordinator's log says so, once" "1" "pushed 2"
for n in coord w1 w2; do
	fails "$n: an ordinary role cannot read the key" $n app 42501 "SELECT key FROM schemamig.citus_key"
done
ok "... nor see it in the coordinator's log" "0" "$(grep -c "$(cq coord "SELECT encode(key, 'hex') FROM schemamig.citus_key")" "$CITUS_DIR/coord.log")"
# ---- the manual procedure still holds for a node the push did not reach (simulated: its key deleted)
cq w2 "DELETE FROM schemamig.citus_key" >/dev/null
keyless="BEGIN; SELECT schemamig.begin_revision('k0'); CREATE TABLE k0 (id bigint PRIMARY KEY); SELECT create_distributed_table('k0', 'id'); COMMIT"
fails "a revision that reaches the keyless node fails with SM001" coord postgres SM001 "$keyless"
out=$(cq coord "$keyless" -v VERBOSITY=verbose 2>&1)
ok "... saying the node has no key and what to run" "t t" \
	"$(grep -c "ERROR:  SM001: this Citus node has no schemamig key" <<<"$out" | sed 's/^1$/t/') $(grep -c "HINT:  A superuser runs SELECT schemamig.citus_sync_key(); on the coordinator.$" <<<"$out" | sed 's/^1$/t/')"
ok "... and nothing of it stayed" "|0" "$(cq coord "SELECT to_regclass('k0'), (SELECT count(*) FROM schemamig.journal)")"
ok "citus_sync_key() copies the key to both workers" "2" "$(cq coord "SELECT schemamig.citus_sync_key()")"
ok "citus_sync_key() again: idempotent" "2 1" "$(cq coord "SELECT schemamig.citus_sync_key()") $(for n in coord w1 w2; do key_digest $n; done | sort -u | wc -l)"
ok "the key is the same on every node" "1" "$(for n in coord w1 w2; do key_digest $n; done | sort -u | wc -l)"
# ---- citus_remove_node() and citus_add_node() again: the push reaches the node again
ok "citus_remove_node(w2)" "" "$(cq coord "SELECT citus_remove_node('localhost', ${CITUS_PORT[w2]})" 2>&1)"
ok "no push after a removal" "1" "$(sleep 1; pushed 2)"
cq w2 "DELETE FROM schemamig.citus_key" >/dev/null
# w2 logs every statement with its user while it joins again: who carried the key there
cq w2 "ALTER SYSTEM SET log_statement = 'all'" >/dev/null
cq w2 "ALTER SYSTEM SET log_line_prefix = '%m [%p] user=%u '" >/dev/null
cq w2 "SELECT pg_reload_conf()" >/dev/null
citus_add_worker w2
poll "w2 added again gets the key again (sha256 compared)" "same" "same_key w2"
poll "... logged by a second push" "2" "pushed 2"
ok "... and carried to w2 only by the bootstrap superuser's connection" "user=postgres" \
	"$(grep "citus_set_key(" "$CITUS_DIR/w2.log" | grep -o "user=[^ ]*" | sort -u | tr '\n' ' ' | sed 's/ $//')"
cq w2 "ALTER SYSTEM RESET log_statement" >/dev/null
cq w2 "ALTER SYSTEM RESET log_line_prefix" >/dev/null
cq w2 "SELECT pg_reload_conf()" >/dev/null
ok "w2 (schemamig already there): node activation's grant replay under SET ROLE to the grantor is maintenance, not blocked" "t" \
	"$(cq w2 "SELECT count(*) > 0 FROM schemamig.ddl_log WHERE direction = 'maintenance' AND command_tag = 'GRANT' AND role = 'pg_database_owner'")"

# ---- revisions: distributed and reference tables, ALTER, indexes, drop
cq coord "SELECT schemamig.register('r1', \$\$CREATE TABLE t1 (id bigint PRIMARY KEY, v text); SELECT create_distributed_table('t1', 'id'); CREATE TABLE ref (id int PRIMARY KEY); SELECT create_reference_table('ref');\$\$, 'DROP TABLE t1; DROP TABLE ref;')" >/dev/null
cq coord "SELECT schemamig.register('r2', 'ALTER TABLE t1 ADD COLUMN w int; CREATE INDEX ON t1 (v);', 'DROP INDEX t1_v_idx; ALTER TABLE t1 DROP COLUMN w;', ARRAY['r1'])" >/dev/null
ok "upgrade() on the coordinator, every worker under enforce" "r1 r2" "$(cq coord "SELECT string_agg(revision, ' ' ORDER BY revision) FROM schemamig.upgrade()")"
ok "t1 is distributed, ref is a reference table" "ref:n t1:h" "$(cq coord "SELECT string_agg(logicalrelid::text || ':' || partmethod::text, ' ' ORDER BY logicalrelid::text) FROM pg_dist_partition")"
ok "shards of t1 have column w and the index on every worker" "2" "$(for n in w1 w2; do cq $n "SET citus.show_shards_for_app_name_prefixes = '*'; SELECT count(*) > 0 FROM pg_indexes WHERE indexname LIKE 't1_v_idx_%'"; done | grep -c t)"
for n in w1 w2; do
	ok "$n: no unversioned rows" "0" "$(cq $n "SELECT count(*) FROM schemamig.ddl_log WHERE direction = 'unversioned'")"
	ok "$n: shard DDL logged under r1 statements 2 and 4 (create_distributed_table, create_reference_table) and r2 statements 1..2" "r1:2 r1:4 r2:1 r2:2" \
		"$(cq $n "SELECT string_agg(DISTINCT revision || ':' || statement_no, ' ') FROM schemamig.ddl_log WHERE direction = 'upgrade'")"
	ok "$n: the logged text is the shard command the worker ran" "t" \
		"$(cq $n "SELECT count(*) FILTER (WHERE statement ~ '^CREATE +INDEX +t1_v_idx_[0-9]+ ON +public.t1_[0-9]+ ') >= 8 FROM schemamig.ddl_log WHERE revision = 'r2' AND statement_no = 2")"
	ok "$n: never the worker_apply_shard_ddl_command() call" "0" \
		"$(cq $n "SELECT count(*) FROM schemamig.ddl_log WHERE statement LIKE '%worker_apply_shard_ddl_command%'")"
done
# ---- the ledger under Citus' two-phase commit (several prepared transactions per worker)
for n in coord w1 w2; do
	ok "$n: the ledger verifies after the distributed upgrade" "t" "$(cq $n "SELECT ok FROM schemamig.verify_ledger()")"
	ok "$n: every prepared transaction's entry was linked at its COMMIT PREPARED" "0" "$(cq $n "SELECT count(*) FROM schemamig.ledger_pending")"
done
for n in w1 w2; do
	ok "$n: the shard DDL of r2 came from several prepared transactions, each linked" "t" \
		"$(cq $n "SELECT count(DISTINCT l.seq) > 1 FROM schemamig.ledger l JOIN schemamig.ddl_log d ON d.ledger_batch = l.batch WHERE d.revision = 'r2'")"
done
ok "coordinator: unqualified CREATE INDEX logged with its own text (not the upgrade() call)" "CREATE INDEX ON t1 (v)" \
	"$(cq coord "SELECT statement FROM schemamig.ddl_log WHERE revision = 'r2' AND command_tag = 'CREATE INDEX'")"

# ---- ad-hoc DDL stays blocked cluster-wide
fails "coordinator: DDL outside a revision" coord app SM001 "CREATE TABLE x (i int)"
ok "run_command_on_workers() DDL by an ordinary role is refused on both workers" "false|false" \
	"$(CQ_USER=app cq coord "SELECT string_agg(success::text, '|') FROM run_command_on_workers('CREATE TABLE y (i int)')")"
fails "worker: direct DDL by an ordinary role" w1 app SM001 "CREATE TABLE z (i int)"
fails "worker: an ordinary role faking every Citus marker" w1 app SM001 \
	"SET application_name = 'citus_internal gpid=10000000001'; BEGIN; SELECT assign_distributed_transaction_id(1, 42, now()); SET LOCAL citus.enable_ddl_propagation = off; SELECT worker_apply_shard_ddl_command(0, 'CREATE TABLE z (i int)'); COMMIT"
fails "worker: a forged token (no key)" w1 app SM001 \
	"BEGIN; SELECT assign_distributed_transaction_id(1, 42, '2026-01-01'); SET LOCAL schemamig.citus_token = 'v1:upgrade:1:1:42:1767225600000000:9999999999999999:$(printf '0%.0s' $(seq 64)):r1'; CREATE TABLE z (i int); COMMIT"

# ---- the verifier, with tokens signed here with the key (as the superuser may)
key=$(cq w1 "SELECT encode(key, 'hex') FROM schemamig.citus_key")
sign() { # sign TRANSACTION_NUMBER EXPIRY_SECONDS_FROM_NOW REVISION
	cq w1 "SELECT s || encode(hmac(convert_to(s || '$3', 'UTF8'), decode('$key', 'hex'), 'sha256'), 'hex') || ':$3'
		FROM (SELECT 'v1:upgrade:7:1:$1:1767225600000000:' ||
			((extract(epoch FROM now()) + $2) * 1000000)::bigint || ':' AS s) x"
}
replay() { # replay TRANSACTION_NUMBER TOKEN TABLE
	echo "BEGIN; SELECT assign_distributed_transaction_id(1, $1, to_timestamp(1767225600)); SET LOCAL schemamig.citus_token = '$2'; CREATE TABLE $3 (i int); COMMIT"
}
good=$(sign 4242 600 r9)
fails "a valid token in another distributed transaction is refused" w1 app SM001 "$(replay 4243 "$good" z1)"
fails "a valid token without a distributed transaction is refused" w1 app SM001 "BEGIN; SET LOCAL schemamig.citus_token = '$good'; CREATE TABLE z2 (i int); COMMIT"
fails "an expired token is refused" w1 app SM001 "$(replay 4242 "$(sign 4242 -1 r9)" z3)"
fails "a token whose revision was changed is refused" w1 app SM001 "$(replay 4242 "${good%:r9}:r1" z4)"
ok "the same token in its own distributed transaction is admitted (the documented residual risk)" "" "$(CQ_USER=app cq w1 "$(replay 4242 "$good" z5)" 2>&1 | grep -v '^$\|^t$\|^COMMIT')"
ok "... and logged under the token's revision, direction and statement number" "r9|upgrade|7|CREATE TABLE z5 (i int)" \
	"$(cq w1 "SELECT revision, direction, statement_no, statement FROM schemamig.ddl_log WHERE statement LIKE '%z5%'")"

# ---- housekeeping: a shard move and the deferred cleanup are never blocked
shard=$(cq coord "SELECT shardid FROM pg_dist_shard_placement WHERE nodeport = ${CITUS_PORT[w1]} AND shardid IN (SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 't1'::regclass) ORDER BY shardid LIMIT 1")
ok "citus_move_shard_placement() with both workers under enforce" "" \
	"$(cq coord "SELECT citus_move_shard_placement($shard, 'localhost', ${CITUS_PORT[w1]}, 'localhost', ${CITUS_PORT[w2]}, shard_transfer_mode => 'block_writes')" 2>&1)"
cq coord "CALL citus_cleanup_orphaned_resources()" >/dev/null 2>&1
ok "deferred cleanup done: pg_dist_cleanup is empty" "0" "$(cq coord "SELECT count(*) FROM pg_dist_cleanup")"
ok "w2: the move's DDL is logged as maintenance" "t" "$(cq w2 "SELECT count(*) > 0 FROM schemamig.ddl_log WHERE direction = 'maintenance' AND command_tag = 'CREATE TABLE'")"
ok "w1: the cleanup's DROP is logged as maintenance" "t" "$(cq w1 "SELECT count(*) > 0 FROM schemamig.ddl_log WHERE direction = 'maintenance' AND command_tag = 'DROP TABLE'")"

# ---- the cluster from the coordinator
ok "cluster_status(): three nodes under enforce" "coordinator|enforce localhost:${CITUS_PORT[w1]}|enforce localhost:${CITUS_PORT[w2]}|enforce" \
	"$(cq coord "SELECT string_agg(node || '|' || guard, ' ' ORDER BY node <> 'coordinator', node) FROM schemamig.cluster_status()")"
ok "cluster_status(): no drift on any node after revisions, a shard move and the cleanup (each worker's baseline taken by its first revision)" "false false false" \
	"$(cq coord "SELECT string_agg(coalesce(drift::text, 'null'), ' ' ORDER BY node <> 'coordinator', node) FROM schemamig.cluster_status()")"
ok "w1: status() in a plain session on the worker (Citus hides the shards there) agrees" "f" "$(cq w1 "SELECT drift FROM schemamig.status()")"
# a shard changed behind Citus' back on w1 (a superuser under warn): drift on w1 only
sneaky=$(cq w1 "SET citus.show_shards_for_app_name_prefixes = '*'; SELECT relname FROM pg_class WHERE relname ~ '^t1_[0-9]+$' ORDER BY relname LIMIT 1")
cq w1 "SET schemamig.guard = warn; SET client_min_messages = error; ALTER TABLE $sneaky ADD COLUMN sneaky int" >/dev/null
ok "cluster_status(): a shard altered directly on w1 is drift on w1 only" "false true false" \
	"$(cq coord "SELECT string_agg(coalesce(drift::text, 'null'), ' ' ORDER BY node <> 'coordinator', node) FROM schemamig.cluster_status()")"
ok "w1: drift() names the shard's new column" "column|public.$sneaky.sneaky|added" \
	"$(cq w1 "SELECT object_type || '|' || identity || '|' || change FROM schemamig.drift() WHERE identity LIKE '%sneaky%'")"
cq w1 "SELECT schemamig.accept_drift('test: the sneaky column on a shard')" >/dev/null
cq w1 "SET schemamig.guard = warn; SET client_min_messages = error; ALTER TABLE $sneaky DROP COLUMN sneaky" >/dev/null
cq w1 "SELECT schemamig.accept_drift('test: the sneaky column dropped again')" >/dev/null
ok "... until accepted on w1" "false false false" \
	"$(cq coord "SELECT string_agg(coalesce(drift::text, 'null'), ' ' ORDER BY node <> 'coordinator', node) FROM schemamig.cluster_status()")"

# ---- downgrade to base across the cluster
ok "downgrade('base')" "r2 r1" "$(cq coord "SELECT string_agg(revision, ' ') FROM schemamig.downgrade('base')" 2>/dev/null)"
for n in w1 w2; do
	ok "$n: shards dropped under r1's downgrade, statement 1" "t" "$(cq $n "SELECT count(*) > 0 FROM schemamig.ddl_log WHERE revision = 'r1' AND direction = 'downgrade' AND statement_no = 1 AND command_tag = 'DROP TABLE'")"
	ok "$n: still no unversioned rows (but w1's two sneaky ALTERs above)" "0" "$(cq $n "SELECT count(*) FROM schemamig.ddl_log WHERE direction = 'unversioned' AND statement NOT LIKE '%sneaky%'")"
done

# ---- upgrade_each(): one transaction per revision (what steps() emits for transactional runs)
ok "CALL upgrade_each() applies r1 and r2 again, one transaction each" "r1 r2" \
	"$(cq coord "CALL schemamig.upgrade_each()" >/dev/null 2>&1; cq coord "SELECT string_agg(revision, ' ' ORDER BY seq) FROM schemamig.applied")"
for n in w1 w2; do
	ok "$n: upgrade_each()'s shard DDL logged under r1 and r2, none unversioned" "r1:2 r1:4 r2:1 r2:2|0" \
		"$(cq $n "SELECT string_agg(DISTINCT revision || ':' || statement_no, ' ') || '|' || (SELECT count(*) FROM schemamig.ddl_log WHERE direction = 'unversioned' AND statement NOT LIKE '%sneaky%') FROM schemamig.ddl_log WHERE direction = 'upgrade' AND id > (SELECT max(id) FROM schemamig.ddl_log WHERE direction = 'downgrade')")"
done

ok "cluster_status(): the ledger of every node is intact after the whole scenario" "t t t" \
	"$(cq coord "SELECT string_agg(coalesce(ledger_ok::text, 'null'), ' ' ORDER BY node <> 'coordinator', node) FROM schemamig.cluster_status()" | sed 's/true/t/g')"
for n in coord w1 w2; do
	ok "$n: verify_ledger() after the whole scenario" "t" "$(cq $n "SELECT ok FROM schemamig.verify_ledger()")"
done

# ---- a push that fails: WARNING in the coordinator's log, the manual procedure named (last: w1 moves away)
w1id=$(cq coord "SELECT nodeid FROM pg_dist_node WHERE nodeport = ${CITUS_PORT[w1]}")
cq coord "SELECT citus_update_node($w1id, 'localhost', 1)" >/dev/null 2>&1
warned() { grep -c "WARNING:  schemamig could not push the citus key after a node change: could not copy the Citus key to localhost:1" "$CITUS_DIR/coord.log"; }
for i in $(seq 80); do [ "$(warned)" = 1 ] && break; sleep 0.25; done
ok "a node change whose push cannot reach a node: one WARNING after about 10 s of retries" "1" "$(warned)"
ok "... with the manual procedure as its hint" "t" "$(grep -A2 "WARNING:  schemamig could not push the citus key" "$CITUS_DIR/coord.log" | grep -c "HINT:  A superuser runs SELECT schemamig.citus_sync_key(); on the coordinator." | sed 's/^1$/t/')"
cq coord "SELECT citus_update_node($w1id, 'localhost', ${CITUS_PORT[w1]})" >/dev/null 2>&1
poll "w1 back at its port: the next push reaches both workers" "3" "pushed 2"
ok "the key never appears in the coordinator's log" "0" "$(grep -c "$(cq coord "SELECT encode(key, 'hex') FROM schemamig.citus_key")" "$CITUS_DIR/coord.log")"
# ---- no free background worker slot: a WARNING in the committing session
as_postgres "$PG_BIN/pg_ctl" -D "$CITUS_DIR/coord" -l "$CITUS_DIR/coord.log" -o "-c max_worker_processes=2" -w restart >/dev/null
# the two slots: the logical replication launcher and Citus' maintenance daemon
poll "coordinator restarted with max_worker_processes = 2, both slots taken" "2" \
	"cq coord \"SELECT count(*) FROM pg_stat_activity WHERE backend_type IN ('logical replication launcher') OR backend_type LIKE 'Citus Maintenance Daemon%'\""
out=$(cq coord "SELECT citus_set_node_property('localhost', ${CITUS_PORT[w1]}, 'shouldhaveshards', false)" 2>&1)
ok "a node change with no free slot commits with a WARNING naming the manual procedure" "t t" \
	"$(grep -c "WARNING:  schemamig could not start the background worker that pushes the citus key to the new node" <<<"$out" | sed 's/^1$/t/') $(grep -c "HINT:  A superuser runs SELECT schemamig.citus_sync_key(); on the coordinator.$" <<<"$out" | sed 's/^1$/t/')"
ok "... and the node change committed" "f" "$(cq coord "SELECT shouldhaveshards FROM pg_dist_node WHERE nodeport = ${CITUS_PORT[w1]}")"

echo "1..$T"
[ "$FAILED" = 0 ] || { echo "# $FAILED of $T Citus tests failed"; exit 1; }
