#!/bin/bash
# image/build.sh: `make image` -- an extension image for CloudNativePG's
# image volume extensions (PostgreSQL 18+), built without a container daemon.
#
# The image is FROM scratch: one layer holding exactly
#     /lib/schemamig.so
#     /share/extension/schemamig.control
#     /share/extension/schemamig--*.sql      (every install and update script)
# which is the layout CloudNativePG mounts read-only at
# /extensions/<name>/ and points PostgreSQL 18's extension_control_path
# ($system:/extensions/schemamig/share) and dynamic_library_path
# ($libdir:/extensions/schemamig/lib) at.  PostgreSQL appends "extension"
# to each extension_control_path element itself.
#
# How: the library is built in a throwaway Debian chroot with PostgreSQL 18
# (test/majors/chroot.sh, the same cached image the PostgreSQL 18 tests
# use), staged with `make install DESTDIR`, and packed with umoci (init,
# new = an empty image, unpack --rootless, copy, repack, config).  Output in
# $OUT (default ./image/out):
#     oci/                            the OCI image layout, tag $TAG
#     schemamig-$TAG.oci.tar          the same layout as one tar
#                                     (skopeo copy oci-archive:… docker://…)
#     rootfs/                         what the layer holds, for inspection
#     glibc.txt                       the newest glibc symbol version needed
#
# Environment: MAJOR (default 18; extension_control_path exists from 18 on),
# SUITE (Debian suite with that major, default forky), SRC (tree, default
# this checkout; copied, never modified), OUT, TAG (default
# <version>-pg<MAJOR>-<suite>, CloudNativePG's naming).  Needs root.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
SRC=${SRC:-$here}
MAJOR=${MAJOR:-18}
SUITE=${SUITE:-forky}
OUT=${OUT:-$here/image/out}
version=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$SRC/schemamig.control")
TAG=${TAG:-$version-pg$MAJOR-$SUITE}
[ "$(id -u)" = 0 ] || { echo "image/build.sh: run as root (chroot)" >&2; exit 2; }
for tool in umoci objdump; do
	command -v $tool >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq umoci binutils >/dev/null
done
. "$here/test/majors/chroot.sh"

SECONDS=0
packages=$(PG_MAJOR=$MAJOR PG_BIN=/nonexistent PG_CONFIG='' && . "$here/test/lib.sh" && echo $PACKAGES)
chroot_img=$(chroot_image "$SUITE" $packages) || { echo "== chroot image for $SUITE: FAILED"; exit 1; }
chroot_enter "$chroot_img"
chroot_copy_tree "$SRC" /root/schemamig
pgc=/usr/lib/postgresql/$MAJOR/bin/pg_config
chroot_exec sh -c "cd /root/schemamig && make -s PG_CONFIG=$pgc with_llvm=no >/dev/null &&
	make -s PG_CONFIG=$pgc with_llvm=no install DESTDIR=/root/stage >/dev/null" ||
	{ echo "== build against PostgreSQL $MAJOR: FAILED"; exit 1; }
libdir=$CHROOT/root/stage$(chroot_exec $pgc --pkglibdir)
sharedir=$CHROOT/root/stage$(chroot_exec $pgc --sharedir)
echo "== built against $(chroot_exec $pgc --version) in $SECONDS s"

rm -rf "$OUT/rootfs" "$OUT/oci" "$OUT/bundle"
mkdir -p "$OUT/rootfs/lib" "$OUT/rootfs/share/extension"
cp "$libdir/schemamig.so" "$OUT/rootfs/lib/"
cp "$sharedir"/extension/schemamig.control "$sharedir"/extension/schemamig--*.sql \
	"$OUT/rootfs/share/extension/"
chmod -R a+rX,go-w "$OUT/rootfs"
# the oldest C library the module can run with: the newest symbol version
# it references (operators' base images must have at least this glibc)
objdump -T "$OUT/rootfs/lib/schemamig.so" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1 >"$OUT/glibc.txt"

umoci init --layout "$OUT/oci"
umoci new --image "$OUT/oci:$TAG"
umoci unpack --rootless --image "$OUT/oci:$TAG" "$OUT/bundle" >/dev/null
cp -a "$OUT/rootfs/." "$OUT/bundle/rootfs/"
umoci repack --image "$OUT/oci:$TAG" "$OUT/bundle"
umoci config --image "$OUT/oci:$TAG" \
	--config.label "org.opencontainers.image.title=schemamig" \
	--config.label "org.opencontainers.image.version=$version" \
	--config.label "org.opencontainers.image.licenses=PostgreSQL" \
	--config.label "org.opencontainers.image.description=schemamig $version extension for PostgreSQL $MAJOR (CloudNativePG image volume extension)" \
	--config.label "io.cloudnativepg.image.postgresql.major=$MAJOR"
umoci gc --layout "$OUT/oci"
rm -rf "$OUT/bundle"
tar -C "$OUT/oci" -cf "$OUT/schemamig-$TAG.oci.tar" .

echo "== image $TAG: $(find "$OUT/rootfs" -type f | sed "s|$OUT/rootfs||" | sort | tr '\n' ' ')"
echo "   needs $(cat "$OUT/glibc.txt") or newer; $(du -h "$OUT/schemamig-$TAG.oci.tar" | cut -f1) as $OUT/schemamig-$TAG.oci.tar; $SECONDS s in all"
