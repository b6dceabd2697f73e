#!/bin/bash
# test/image.sh: the extension image, mounted the way CloudNativePG mounts
# it.  Builds the image (image/build.sh), unpacks the OCI archive with umoci
# into a read-only directory outside the server's own tree, starts
# PostgreSQL 18 in a throwaway chroot whose system directories have no
# schemamig at all, with
#     extension_control_path = '$system:/extensions/schemamig/share'
#     dynamic_library_path   = '$libdir:/extensions/schemamig/lib'
# and runs against it: the pg_regress and isolation suites (make
# installcheck; the TAP tests start clusters of their own), the
# trusted-install test (a database owner without superuser installs,
# migrates and cannot get around the guard), and the names that load the
# library for full coverage: session_preload_libraries = 'schemamig' is
# found through dynamic_library_path, '$libdir/schemamig' is not (only
# module_pathname in the control file gets that treatment), as the docs
# say (docs/support.md).
#
# Environment: as image/build.sh (MAJOR, SUITE, OUT).  Exit status non-zero
# when a step fails.  Needs root.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
MAJOR=${MAJOR:-18}
SUITE=${SUITE:-forky}
export OUT=${OUT:-/tmp/schemamig-image}
[ "$(id -u)" = 0 ] || { echo "test/image.sh: run as root (chroot)" >&2; exit 2; }
SECONDS=0
MAJOR=$MAJOR SUITE=$SUITE bash "$here/image/build.sh" || { echo "== image build: FAILED"; exit 1; }
tar=$(ls "$OUT"/schemamig-*-pg$MAJOR-*.oci.tar | head -1)
tag=$(basename "$tar" .oci.tar); tag=${tag#schemamig-}
t_build=$SECONDS

. "$here/test/majors/chroot.sh"
packages=$(PG_MAJOR=$MAJOR PG_BIN=/nonexistent PG_CONFIG='' && . "$here/test/lib.sh" && echo $PACKAGES)
chroot_enter "$(chroot_image "$SUITE" $packages)" || exit 1
chroot_copy_tree "$here" /root/schemamig

# the operator's view: the image's layer as a read-only volume
layout=$(mktemp -d /var/tmp/schemamig-oci.XXXXXX)
tar -C "$layout" -xf "$tar"
umoci unpack --rootless --image "$layout:$tag" "$layout/bundle" >/dev/null || { echo "umoci unpack failed"; exit 1; }
mkdir -p "$CHROOT/extensions/schemamig"
cp -a "$layout/bundle/rootfs/." "$CHROOT/extensions/schemamig/"
rm -rf "$layout"
mount --bind "$CHROOT/extensions/schemamig" "$CHROOT/extensions/schemamig"
mount -o remount,bind,ro "$CHROOT/extensions/schemamig"
trap 'umount "$CHROOT/extensions/schemamig" 2>/dev/null; chroot_leave' EXIT
failed=0
n_check=0
check() { # check NAME CMD...: run in the chroot, report
	local name=$1 log; shift
	n_check=$((n_check + 1)); log=$OUT/check$n_check.log
	if chroot_exec bash -c "$*" >"$log" 2>&1; then
		echo "ok: $name"
	else
		echo "not ok: $name (log: $log)"; tail -30 "$log"; failed=1
	fi
}
pgc=/usr/lib/postgresql/$MAJOR/bin/pg_config
check "the server's own directories have no schemamig" \
	"! ls \$($pgc --pkglibdir)/schemamig* \$($pgc --sharedir)/extension/schemamig* 2>/dev/null"
check "the mounted volume is read-only" "! touch /extensions/schemamig/lib/x 2>/dev/null"

# a cluster configured as CloudNativePG configures it
start='cd /root/schemamig && export PG_CONFIG='$pgc' && . test/lib.sh && cluster_init $((54000 + RANDOM % 900)) &&
	cat >>"$PGDATA/postgresql.conf" <<CONF
extension_control_path = '"'"'\$system:/extensions/schemamig/share'"'"'
dynamic_library_path = '"'"'\$libdir:/extensions/schemamig/lib'"'"'
fsync = off
max_prepared_transactions = 10
CONF
	as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$CLUSTER_DIR/server.log" -w start >/dev/null && trap cluster_stop EXIT'
check "pg_regress and isolation suites against the image (make installcheck)" \
	"$start && make -s installcheck PG_CONFIG=$pgc with_llvm=no TAP_TESTS= || { cat regression.diffs 2>/dev/null | head -80; exit 1; }"
check "trusted install from the image: a non-superuser owner installs, migrates, cannot get around the guard" \
	"$start && bash test/integration/trusted_install.sh"
check "session_preload_libraries = 'schemamig' loads the library from the image (full coverage)" \
	"$start && psql -qX -d postgres -c 'CREATE DATABASE img' && psql -qX -d img -c 'CREATE EXTENSION schemamig' &&
	 test \"\$(PGOPTIONS='-c session_preload_libraries=schemamig' psql -qXAt -d img -c 'SELECT coverage FROM schemamig.status()')\" = full"
check "the login trigger loads the library from the image: full coverage with no setting" \
	"$start && psql -qX -d postgres -c 'CREATE DATABASE img' && psql -qX -d img -c 'CREATE EXTENSION schemamig' &&
	 test \"\$(psql -qXAt -d img -c 'SELECT coverage FROM schemamig.status()')\" = full"
check "'\$libdir/schemamig' in a preload setting is not found (the docs say to use the bare name)" \
	"$start && ! PGOPTIONS='-c session_preload_libraries=\$libdir/schemamig' psql -qXAt -d postgres -c 'SELECT 1' 2>&1"
echo "== image $tag: built in $t_build s, tested in $((SECONDS - t_build)) s"
[ $failed = 0 ] && echo "== image: all checks passed" || echo "== image: FAILED"
exit $failed
