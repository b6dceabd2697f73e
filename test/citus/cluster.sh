# Sourced by test/citus/run.sh and bench/citus.sh: a throwaway Citus cluster
# (coordinator + 2 workers) on one machine, private ports on localhost,
# trust authentication on localhost only, data in a temporary directory.
# Needs PG_BIN (with citus.so in its lib dir) and lib.sh's as_postgres.

CITUS_DIR=
declare -A CITUS_PORT

# A node that does not start (seen once in CI: a port another cluster of the
# machine had just taken) gets its log printed and the cluster is started
# again on other ports, up to three times.
citus_cluster_start() {
	local try
	for try in 1 2 3; do
		citus_cluster_try_start && return 0
		echo "citus cluster: start failed (try $try), retrying on other ports" >&2
		citus_cluster_stop
	done
	return 1
}

citus_cluster_try_start() {
	local base=$((56000 + RANDOM % 800)) i=0 n
	CITUS_DIR=$(mktemp -d /tmp/schemamig-citus.XXXXXX)
	chmod 755 "$CITUS_DIR"
	[ "$(id -u)" = 0 ] && chown postgres: "$CITUS_DIR"
	for n in coord w1 w2; do
		CITUS_PORT[$n]=$((base + i)); i=$((i + 1))
		as_postgres "$PG_BIN/initdb" -D "$CITUS_DIR/$n" -U postgres -A trust --no-sync >"$CITUS_DIR/$n.initdb.log" 2>&1 ||
			{ tail -20 "$CITUS_DIR/$n.initdb.log" >&2; return 1; }
		cat >>"$CITUS_DIR/$n/postgresql.conf" <<CONF
port = ${CITUS_PORT[$n]}
listen_addresses = 'localhost'
unix_socket_directories = '$CITUS_DIR'
shared_preload_libraries = '${CITUS_PRELOAD:-citus,schemamig}'
max_prepared_transactions = 100
shared_buffers = 32MB
fsync = off
citus.enable_statistics_collection = off
log_min_messages = warning
log_statement = '${CITUS_LOG_STATEMENT:-none}'
CONF
		if ! as_postgres "$PG_BIN/pg_ctl" -D "$CITUS_DIR/$n" -l "$CITUS_DIR/$n.log" -w start >/dev/null; then
			echo "citus cluster: $n did not start on port ${CITUS_PORT[$n]}; its log:" >&2
			tail -20 "$CITUS_DIR/$n.log" >&2
			return 1
		fi
	done
	trap citus_cluster_stop EXIT
	for n in coord w1 w2; do cq "$n" 'CREATE EXTENSION citus' >/dev/null || return 1; done
	cq coord "SELECT citus_set_coordinator_host('localhost', ${CITUS_PORT[coord]})" >/dev/null || return 1
}

citus_add_worker() {
	cq coord "SELECT citus_add_node('localhost', ${CITUS_PORT[$1]})" >/dev/null
}

citus_cluster_stop() {
	local n
	[ -n "$CITUS_DIR" ] && [ -d "$CITUS_DIR" ] || return 0
	for n in coord w1 w2; do
		as_postgres "$PG_BIN/pg_ctl" -D "$CITUS_DIR/$n" -m immediate stop >/dev/null 2>&1 || true
	done
	[ -n "${CITUS_KEEP:-}" ] && echo "kept $CITUS_DIR" >&2 || rm -rf "$CITUS_DIR"
}

# cq NODE SQL [psql args]: run SQL as postgres (CQ_USER to change), unaligned
cq() {
	local node=$1 sql=$2; shift 2
	"$PG_BIN/psql" -X -At -q -v ON_ERROR_STOP=1 -h "$CITUS_DIR" -p "${CITUS_PORT[$node]}" \
		-U "${CQ_USER:-postgres}" -d postgres "$@" -c "$sql"
}
