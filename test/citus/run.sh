#!/bin/bash
# Citus suite (issue #16): builds Citus 13.2.2 from ../shared/citus/ (beside
# the clone; the AGPL source never enters this tree) into the PostgreSQL of
# PG_BIN/PG_CONFIG unless citus.so is already there, starts a coordinator and
# two workers (test/citus/cluster.sh) and runs test/citus/scenarios.sh.
# Skips, saying why, only where the build cannot run (no source, no root to
# install the build dependencies).  CITUS_CACHE keeps the built tree between
# runs (default /var/cache/schemamig-citus); built without LLVM bitcode
# (with_llvm=no: half the compile time, JIT inlining of Citus is not needed).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
export PG_CONFIG=${PG_CONFIG:-$PG_BIN/pg_config}
. test/lib.sh
. test/citus/cluster.sh

SHARED=${SHARED:-$ROOT/../shared}
CACHE=${CITUS_CACHE:-/var/cache/schemamig-citus}
major=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')

skip() { echo "1..0 # SKIP citus: $*"; exit 0; }

# PostgreSQL itself, psql, make, gcc (the host step installed them already in CI)
[ "$(id -u)" = 0 ] && { ensure_packages || skip "could not install PostgreSQL's packages"; }

if [ "$major" -lt 15 ] || [ "$major" -gt 17 ]; then
	skip "Citus 13.2.2 supports PostgreSQL 15-17, this is $major"
fi

if [ ! -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ]; then
	tarball=$SHARED/citus/citus-13.2.2-notests.tar.gz
	[ -f "$tarball" ] || skip "no Citus source at $tarball"
	[ "$(id -u)" = 0 ] || skip "building Citus needs root (apt build dependencies, make install)"
	if [ ! -f "$CACHE/src/citus.so" ] && [ ! -f "$CACHE/src/src/backend/distributed/citus.so" ]; then
		echo "== citus: building 13.2.2 into $CACHE (about 2.5 min)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-upgrade \
			postgresql-server-dev-$major libcurl4-openssl-dev liblz4-dev libzstd-dev libssl-dev \
			libkrb5-dev make gcc >/dev/null || skip "could not install Citus' build dependencies"
		rm -rf "$CACHE/src"; mkdir -p "$CACHE/src"
		tar -xzf "$tarball" -C "$CACHE/src" --strip-components=1
		if grep -q 'have_createdb_privilege' "$("$PG_CONFIG" --includedir-server)/commands/dbcommands.h" 2>/dev/null &&
			[ -f "$SHARED/citus/citus-13.2.2-pg15.20.patch" ] && [ "$major" = 15 ]; then
			patch -s -d "$CACHE/src" -p1 -i "$SHARED/citus/citus-13.2.2-pg15.20.patch"
		fi
		(cd "$CACHE/src" && ./configure -q PG_CONFIG="$PG_CONFIG" >/dev/null &&
			make -s -j"$(nproc)" with_llvm=no >"$CACHE/build.log" 2>&1) || { tail -20 "$CACHE/build.log" >&2; echo "citus build failed" >&2; exit 1; }
	else
		echo "== citus: using the cached build in $CACHE"
	fi
	(cd "$CACHE/src" && make -s install with_llvm=no >/dev/null)
fi

build_and_install
citus_cluster_start
exec_scenarios() { . test/citus/scenarios.sh; }
exec_scenarios
