#!/bin/bash
# test/fresh_machine.sh: the README's Quick start, as written, on a really
# fresh machine: a minimal Debian 12 (debootstrap --variant=minbase of
# bookworm: no make, no compiler, no PostgreSQL, no procps) with a git clone
# of this checkout, in a throwaway chroot (test/majors/chroot.sh).  Every
# line of the Quick start's first ```sh block is run in order, as root,
# from the clone: it must install what it needs itself (apt-get only for
# what is missing) and pass.
#
# Environment: SRC (the repository to clone, default this checkout; its
# committed HEAD is what is tested), LOG (default /tmp/schemamig-fresh).
# Prints each command's time.  Exit status: non-zero when a command fails.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
SRC=${SRC:-$here}
LOG=${LOG:-/tmp/schemamig-fresh}
[ "$(id -u)" = 0 ] || { echo "test/fresh_machine.sh: run as root (chroot)" >&2; exit 2; }
. "$here/test/majors/chroot.sh"

# the commands: the first ```sh block after "## Quick start" in README.md
commands=$(awk '/^## Quick start/ {q = 1; next}
	q && /^```sh/ {b = 1; next}
	b && /^```/ {exit}
	b {sub(/[ \t]+#.*$/, ""); if ($0 != "") print}' "$SRC/README.md")
[ -n "$commands" ] || { echo "no Quick start block in $SRC/README.md" >&2; exit 2; }

SECONDS=0
image=$(chroot_image bookworm) || { echo "== bookworm minbase image: FAILED"; exit 1; }
chroot_enter "$image" || exit 1
git clone -q "$SRC" "$CHROOT/root/schemamig" || exit 1
echo "== fresh Debian 12 (minbase) with a clone of $(git -C "$SRC" rev-parse --short HEAD) ready after $SECONDS s"
for tool in make gcc pg_config ps; do
	chroot_exec sh -c "command -v $tool" >/dev/null && echo "   note: $tool is already there"
done

mkdir -p "$LOG"
rc=0
n=0
while IFS= read -r cmd; do
	n=$((n + 1))
	t0=$SECONDS
	echo "== \$ $cmd"
	chroot_exec sh -c "cd /root/schemamig && $cmd" >"$LOG/$n.log" 2>&1
	rc=$?
	grep -E "^(== |FAILED)|^ok:|tests passed|installing:" "$LOG/$n.log" | tail -15
	echo "== exit $rc after $((SECONDS - t0)) s (log: $LOG/$n.log)"
	[ $rc = 0 ] || { tail -30 "$LOG/$n.log"; break; }
done <<<"$commands"
echo "== fresh machine: $([ $rc = 0 ] && echo passed || echo FAILED) in $SECONDS s"
exit $rc
