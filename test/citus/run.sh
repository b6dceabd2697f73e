#!/bin/bash
# Citus suite (issue #16): builds Citus 13.2.2 from ../shared/citus/ (beside
# the clone; the AGPL source never enters this tree) into the PostgreSQL of
# PG_BIN/PG_CONFIG unless citus.so is already there, starts a coordinator and
# two workers (test/citus/cluster.sh) and runs test/citus/scenarios.sh.
# Skips, saying why, only where the build cannot run (no source, no root to
# install the build dependencies).  CITUS_CACHE keeps the built tree between
# runs (default /var/cache/schemamig-ci/citus-13.2.2-<PostgreSQL version>-
# <hash of PG_CONFIG's path>, beside .ci/run's chroot images: a tree built for
# one PostgreSQL install is never installed into another), so only the first
# run on a machine compiles Citus (about 2.5 min on 2 cores; later runs only
# `make install` it, a second); built without LLVM bitcode (with_llvm=no:
# half the compile time, JIT inlining of Citus is not needed).  Prints the
# time of each phase.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
export PG_CONFIG=${PG_CONFIG:-$PG_BIN/pg_config}
. test/lib.sh
. test/citus/cluster.sh

SHARED=${SHARED:-$ROOT/../shared}
major=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
pgver=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9.]+).*/\1/')
CACHE=${CITUS_CACHE:-/var/cache/schemamig-ci/citus-13.2.2-pg$pgver-$(printf %s "$PG_CONFIG" | md5sum | cut -c1-8)}
t0=$SECONDS
phase() { echo "== citus: $1 ($((SECONDS - t0)) s)"; }

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
	# the stamp is written only after a complete build: an interrupted one is redone
	if [ ! -f "$CACHE/built" ]; then
		phase "building 13.2.2 in $CACHE for $PG_CONFIG (about 2.5 min)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-upgrade \
			postgresql-server-dev-$major libcurl4-openssl-dev liblz4-dev libzstd-dev libssl-dev \
			libkrb5-dev make gcc >/dev/null || skip "could not install Citus' build dependencies"
		rm -rf "$CACHE/src" "$CACHE/built"; mkdir -p "$CACHE/src"
		tar -xzf "$tarball" -C "$CACHE/src" --strip-components=1
		if grep -q 'have_createdb_privilege' "$("$PG_CONFIG" --includedir-server)/commands/dbcommands.h" 2>/dev/null &&
			[ -f "$SHARED/citus/citus-13.2.2-pg15.20.patch" ] && [ "$major" = 15 ]; then
			patch -s -d "$CACHE/src" -p1 -i "$SHARED/citus/citus-13.2.2-pg15.20.patch"
		fi
		(cd "$CACHE/src" && ./configure -q PG_CONFIG="$PG_CONFIG" >/dev/null &&
			make -s -j"$(nproc)" with_llvm=no >"$CACHE/build.log" 2>&1) ||
			{ tail -20 "$CACHE/build.log" >&2; rm -rf "$CACHE/src"; echo "citus build failed" >&2; exit 1; }
		date -u +%FT%TZ >"$CACHE/built"
		phase "built"
	else
		phase "using the cached build in $CACHE"
	fi
	(cd "$CACHE/src" && make -s install with_llvm=no >/dev/null)
	phase "installed citus.so into $("$PG_CONFIG" --pkglibdir)"
else
	phase "citus.so is installed in $("$PG_CONFIG" --pkglibdir)"
fi

build_and_install
phase "schemamig built and installed"
citus_cluster_start
phase "coordinator + 2 workers started"
exec_scenarios() { . test/citus/scenarios.sh; }
exec_scenarios
