# test/majors/chroot.sh: throwaway Debian chroots for testing schemamig on
# other PostgreSQL majors (and on a minimal fresh machine).  Sourced, never run.
#
# Interface (for test/majors/run.sh, test/fresh_machine.sh, the extension
# image (#20) and Citus (#16) tests):
#
#   chroot_image SUITE PACKAGES...
#       Prints the path of a cached root filesystem tarball of Debian SUITE
#       (debootstrap --variant=minbase) with PACKAGES installed (none: a bare
#       minbase).  Built once per machine and kept under $CHROOT_CACHE
#       (default /var/cache/schemamig-ci), keyed by suite, package list and
#       this file's image recipe; a rerun on the same machine reuses it, a new
#       machine (or CHROOT_REFRESH=1, or a tarball older than
#       $CHROOT_MAX_AGE_DAYS, default 7) builds it.  Concurrent builders of
#       the same image wait on a lock.  Progress goes to stderr.
#   chroot_enter TARBALL
#       Unpacks TARBALL into a new directory $CHROOT under /var/tmp (on a
#       tmpfs when 10 GB of memory are free, CHROOT_TMPFS=0/1 to decide), mounts
#       /proc and a /dev/shm there, and removes it all again on exit (an EXIT
#       trap; call chroot_leave yourself if you set your own trap).
#   chroot_exec CMD...
#       Runs CMD inside $CHROOT as root with a clean environment (PATH, HOME,
#       LANG=C.UTF-8, DEBIAN_FRONTEND=noninteractive, plus every NAME=VALUE
#       in $CHROOT_ENV).
#   chroot_copy_tree SRC DEST
#       Copies the source tree SRC (tracked and untracked files, including
#       .git, without build products) to DEST inside the chroot.
#   chroot_leave
#       Stops any PostgreSQL server started inside, unmounts, removes $CHROOT.
#
# Environment: MIRROR (default: the host's Debian mirror), CHROOT_CACHE,
# CHROOT_REFRESH, CHROOT_MAX_AGE_DAYS.  Needs root, debootstrap and zstd
# (installed on demand).  The host's apt sources, packages and clusters are
# never touched.
#
# Facts this relies on: bookworm's debootstrap has no script for forky (the
# sid script fits every newer suite); testing/sid Release files may be past
# their Valid-Until (signatures are still checked); policy-rc.d stops the
# packages from starting daemons; no "main" cluster is created.

CHROOT_CACHE=${CHROOT_CACHE:-/var/cache/schemamig-ci}
CHROOT_MAX_AGE_DAYS=${CHROOT_MAX_AGE_DAYS:-7}
# bump when the recipe below changes, so that cached images are rebuilt
CHROOT_RECIPE=1

chroot_mirror() {
	if [ -z "${MIRROR:-}" ]; then
		MIRROR=$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}' \
			/etc/apt/sources.list.d/debian.sources 2>/dev/null)
		[ -n "$MIRROR" ] || MIRROR=$(awk '/^deb / && $2 ~ /\/debian\/?$/ {print $2; exit}' \
			/etc/apt/sources.list 2>/dev/null)
		[ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian
	fi
	echo "$MIRROR"
}

chroot_need_tools() {
	local missing="" t
	for t in debootstrap zstd; do
		command -v "$t" >/dev/null || missing="$missing $t"
	done
	if [ -n "$missing" ]; then
		apt-get install -y -qq $missing >/dev/null || return 1
	fi
}

# _chroot_build SUITE DIR PACKAGES...: debootstrap + configuration + packages
_chroot_build() {
	local suite=$1 root=$2 mirror script=""
	shift 2
	mirror=$(chroot_mirror)
	[ -e "/usr/share/debootstrap/scripts/$suite" ] || script=/usr/share/debootstrap/scripts/sid
	echo "   debootstrap $suite ($mirror)" >&2
	debootstrap --variant=minbase "$suite" "$root" "$mirror" $script >"$root.debootstrap.log" 2>&1 ||
		{ tail -20 "$root.debootstrap.log" >&2; return 1; }
	rm -f "$root.debootstrap.log"
	{
		echo "deb $mirror $suite main"
		case "$suite" in sid | unstable | forky | testing | experimental) ;; *)
			echo "deb $mirror $suite-updates main"
			echo "deb ${mirror%/debian*}/debian-security $suite-security main" ;;
		esac
	} >"$root/etc/apt/sources.list"
	printf 'Acquire::Check-Valid-Until "false";\n' >"$root/etc/apt/apt.conf.d/99schemamig-ci"
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 755 "$root/usr/sbin/policy-rc.d"
	mkdir -p "$root/etc/postgresql-common"
	echo "create_main_cluster = false" >"$root/etc/postgresql-common/createcluster.conf"
	if [ $# -gt 0 ]; then
		echo "   apt-get install $*" >&2
		mount -t proc proc "$root/proc" || return 1
		# a package this suite does not have is left out (and reported)
		CHROOT=$root chroot_exec sh -c "apt-get update -qq || exit 1
			avail=''
			for p in $*; do
				if apt-cache show \$p >/dev/null 2>&1; then avail=\"\$avail \$p\"
				else echo \"(not in $suite: \$p)\" >&2; fi
			done
			apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold \$avail &&
			apt-get clean" >"$root.apt.log" 2>&1 ||
			{ umount "$root/proc"; tail -20 "$root.apt.log" >&2; return 1; }
		umount "$root/proc"
		grep '^(not in' "$root.apt.log" >&2
		rm -f "$root.apt.log"
	fi
}

chroot_image() {
	local suite=$1 key tarball tmp
	shift
	key=$(echo "$CHROOT_RECIPE $suite $*" | sha1sum | cut -c1-12)
	tarball=$CHROOT_CACHE/$suite-$key.tar.zst
	mkdir -p "$CHROOT_CACHE"
	(
		flock 9
		if [ -f "$tarball" ] && [ "${CHROOT_REFRESH:-0}" != 1 ] &&
			[ -z "$(find "$tarball" -mtime +"$CHROOT_MAX_AGE_DAYS")" ]; then
			exit 0
		fi
		chroot_need_tools || exit 1
		echo "== building chroot image $suite [$*]" >&2
		tmp=$(mktemp -d /var/tmp/schemamig-image.XXXXXX)
		if _chroot_build "$suite" "$tmp/root" "$@" &&
			tar -C "$tmp/root" -cf - . | zstd -q -T0 -3 >"$tarball.new"; then
			mv "$tarball.new" "$tarball"
			rm -rf --one-file-system "$tmp"
		else
			rm -rf --one-file-system "$tmp" "$tarball.new"
			exit 1
		fi
	) 9>"$CHROOT_CACHE/.$suite-$key.lock" || return 1
	echo "$tarball"
}

chroot_enter() {
	local tarball=$1
	chroot_need_tools || return 1
	CHROOT=$(mktemp -d /var/tmp/schemamig-chroot.XXXXXX) || return 1
	trap chroot_leave EXIT
	# in memory when there is plenty: unpacking and removing 2 GB of files
	# on a busy disk took a minute
	if [ "${CHROOT_TMPFS:-auto}" = auto ]; then
		CHROOT_TMPFS=0
		[ "$(awk '/^MemAvailable:/ {print int($2 / 1048576)}' /proc/meminfo)" -ge 10 ] && CHROOT_TMPFS=1
	fi
	if [ "$CHROOT_TMPFS" = 1 ]; then
		mount -t tmpfs -o size=5g,mode=755 schemamig-chroot "$CHROOT" || return 1
	fi
	zstd -q -d -T0 -c "$tarball" | tar -C "$CHROOT" -xf - || return 1
	mount -t proc proc "$CHROOT/proc" || return 1
	mkdir -p "$CHROOT/dev/shm"
	mount -t tmpfs -o size=512m,mode=1777 shm "$CHROOT/dev/shm" || return 1
	# name resolution for a chroot that fetches packages itself
	cp /etc/resolv.conf "$CHROOT/etc/resolv.conf" 2>/dev/null || true
}

chroot_exec() {
	# shellcheck disable=SC2086
	chroot "$CHROOT" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive ${CHROOT_ENV:-} "$@"
}

chroot_copy_tree() {
	local src=$1 dest=$CHROOT$2
	mkdir -p "$dest"
	tar -C "$src" --exclude='*.o' --exclude='*.bc' --exclude='*.so' --exclude=results \
		--exclude=regression.diffs --exclude=regression.out --exclude=tmp_check \
		--exclude=log -cf - . | tar -C "$dest" -xf -
}

chroot_leave() {
	[ -n "${CHROOT:-}" ] && [ -d "$CHROOT" ] || return 0
	# any postmaster left running inside (a failed test's cluster)
	local pid
	for pid in $(pgrep -x postgres 2>/dev/null); do
		[ "$(readlink "/proc/$pid/root")" = "$CHROOT" ] && kill -9 "$pid" 2>/dev/null
	done
	sleep 0.2
	local m
	for m in "$CHROOT/dev/shm" "$CHROOT/proc" "$CHROOT"; do
		mountpoint -q "$m" && umount -l "$m"
	done
	rm -rf --one-file-system "$CHROOT"
	CHROOT=""
}
