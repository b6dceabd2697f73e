# Shared shell helpers: packages, a throwaway PostgreSQL cluster.
# Sourced by test/run.sh, examples/demo.sh and bench/*.sh.  Never touches
# the system cluster: the cluster lives in a temporary directory, owned by
# the postgres OS user, listening only on a private Unix socket directory.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PACKAGES="postgresql-15 postgresql-server-dev-15 libpq-dev postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl make gcc"
# test/integration/flask_migrate.sh: a real Flask-Migrate deploy
PACKAGES="$PACKAGES python3-flask-migrate python3-psycopg2"
# isolation tests (pg_isolation_regress, isolationtester) and TAP tests
# (PostgreSQL::Test::Cluster, prove, IPC::Run; ps and kill for the crash tests)
PACKAGES="$PACKAGES postgresql-client-15 libipc-run-perl perl procps"

ensure_packages() {
	local missing=""
	for p in $PACKAGES "$@"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		echo "== installing:$missing"
		if [ "$(id -u)" != 0 ]; then
			echo "missing packages:$missing (run as root to install them)" >&2
			return 1
		fi
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq $missing >/dev/null
	fi
}

build_and_install() {
	make -s >/dev/null
	make -s install >/dev/null
}

# as_postgres CMD...: run a server-side command as the postgres OS user
as_postgres() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# cluster_init port [prefix]: a new cluster's directory and initdb, private
# socket and port; exports PGHOST PGPORT PGUSER PGDATA CLUSTER_DIR
cluster_init() {
	local port=$1
	CLUSTER_DIR=$(mktemp -d /tmp/${2:-schemamig-cluster}.XXXXXX)
	chmod 755 "$CLUSTER_DIR"
	[ "$(id -u)" = 0 ] && chown postgres: "$CLUSTER_DIR"
	export PGDATA="$CLUSTER_DIR/data" PGHOST="$CLUSTER_DIR" PGPORT=$port PGUSER=postgres
	as_postgres "$PG_BIN/initdb" -D "$PGDATA" -U postgres -A trust --no-sync >"$CLUSTER_DIR/initdb.log" 2>&1
	cat >>"$PGDATA/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$CLUSTER_DIR'
port = $port
CONF
}

# cluster_start [port]: initdb + start; exports PGHOST PGPORT PGUSER PGDATA
cluster_start() {
	cluster_init "${1:-$((54000 + RANDOM % 900))}"
	cat >>"$PGDATA/postgresql.conf" <<CONF
fsync = ${CLUSTER_FSYNC:-off}
log_min_messages = warning
max_prepared_transactions = 10
logging_collector = off
CONF
	as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$CLUSTER_DIR/server.log" -w start >/dev/null
	trap cluster_stop EXIT
}

cluster_stop() {
	if [ -n "${CLUSTER_DIR:-}" ] && [ -d "$CLUSTER_DIR" ]; then
		as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true
		rm -rf "$CLUSTER_DIR"
	fi
}
