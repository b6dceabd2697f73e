# Shared shell helpers: packages, a throwaway PostgreSQL cluster.
# Sourced by test/run.sh, examples/demo.sh and bench/*.sh.  Never touches
# the system cluster: the cluster lives in a temporary directory, owned by
# the postgres OS user, listening only on a private Unix socket directory.

# The PostgreSQL major comes from the server being tested, never a constant:
# $PG_CONFIG, else $PG_BIN, else the newest installed server, else the
# distribution's default major (what `apt-get install postgresql` would give).
pg_major_default() {
	local v
	if [ -n "${PG_CONFIG:-}" ] && [ -x "$PG_CONFIG" ]; then
		"$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/'
	elif [[ ${PG_CONFIG:-} =~ /postgresql/([0-9]+)/bin/pg_config$ ]]; then
		# not installed yet: Debian's path says which major to install
		echo "${BASH_REMATCH[1]}"
	elif [ -n "${PG_BIN:-}" ] && [ -x "$PG_BIN/postgres" ]; then
		"$PG_BIN/postgres" --version | sed -nE 's/^postgres \(PostgreSQL\) ([0-9]+).*/\1/p'
	elif v=$(ls /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sed -E 's#.*/postgresql/([0-9]+)/.*#\1#' | sort -n | tail -1) && [ -n "$v" ]; then
		echo "$v"
	elif v=$(apt-cache depends postgresql 2>/dev/null | sed -nE 's/.*Depends: postgresql-([0-9]+)$/\1/p' | head -1) && [ -n "$v" ]; then
		echo "$v"
	else
		echo 15
	fi
}
PG_MAJOR=${PG_MAJOR:-$(pg_major_default)}
if [ -z "${PG_BIN:-}" ]; then
	if [ -n "${PG_CONFIG:-}" ] && [ -x "$PG_CONFIG" ]; then
		PG_BIN=$("$PG_CONFIG" --bindir)
	elif [ -n "${PG_CONFIG:-}" ]; then
		PG_BIN=$(dirname "$PG_CONFIG")
	else
		PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
	fi
fi
export PG_CONFIG=${PG_CONFIG:-$PG_BIN/pg_config}
# Everything the tests call that a minimal Debian (debootstrap minbase)
# lacks: the server, its headers and client programs (pg_isolation_regress,
# isolationtester), libpq's headers (the client program), pgTAP and
# pg_prove, make and a compiler, procps (ps, kill, pgrep), git (the
# 0.1.0 -> 0.2.0 update test builds the 0.1.0 tag), perl and IPC::Run (TAP
# tests), python3 with psycopg2 (reliability tests) and Flask-Migrate
# (test/integration/flask_migrate.sh).
PACKAGES="postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-client-$PG_MAJOR
	libpq-dev postgresql-$PG_MAJOR-pgtap libtap-parser-sourcehandler-pgtap-perl perl
	libipc-run-perl make gcc procps git python3-flask-migrate python3-psycopg2"

ensure_packages() {
	local missing=""
	for p in $PACKAGES "$@"; do
		[ "$(dpkg-query -W -f '${Status}' "$p" 2>/dev/null)" = "install ok installed" ] ||
			missing="$missing $p"
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
	export CLUSTER_DIR PGDATA="$CLUSTER_DIR/data" PGHOST="$CLUSTER_DIR" PGPORT=$port PGUSER=postgres
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
	# CLUSTER_CONF: more settings (test/plan_compare/capture.sh loads its
	# statement capture with it)
	[ -z "${CLUSTER_CONF:-}" ] || printf '%s\n' "$CLUSTER_CONF" >>"$PGDATA/postgresql.conf"
	as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$CLUSTER_DIR/server.log" -w start >/dev/null
	trap cluster_stop EXIT
}

cluster_stop() {
	if [ -n "${CLUSTER_DIR:-}" ] && [ -d "$CLUSTER_DIR" ]; then
		as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true
		rm -rf "$CLUSTER_DIR"
	fi
}
