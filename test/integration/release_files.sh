#!/bin/bash
# The release files agree with each other: the version in schemamig.control
# (default_version) is the one of META.json, debian/changelog and the top
# entry of CHANGELOG.md; every install and update script exists, is in the
# Makefile's DATA and is reachable from the previous release; META.json is
# valid JSON naming the install script; debian/control is what
# `pg_buildext updatecontrol` makes of control.in for this machine.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
version=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" schemamig.control)
fail() { echo "release files: $*"; exit 1; }
meta=$(python3 -c 'import json,sys; m=json.load(open("META.json")); p=m["provides"]["schemamig"]; print(m["version"], p["version"], p["file"], m["license"])') ||
	fail "META.json is not valid JSON"
[ "$meta" = "$version $version schemamig--$version.sql postgresql" ] || fail "META.json says $meta, control $version"
deb=$(sed -n '1s/^schemamig (\([^-)]*\)-[^)]*).*/\1/p' debian/changelog)
[ "$deb" = "$version" ] || fail "debian/changelog is $deb, control $version"
top=$(sed -n 's/^## \([0-9][0-9.]*\).*/\1/p' CHANGELOG.md | head -1)
[ "$top" = "$version" ] || fail "CHANGELOG.md starts with $top, control $version"
grep -q "PostgreSQL License" LICENSE || fail "LICENSE is not the PostgreSQL License"
data=" $(sed -n 's/^DATA *= *//p' Makefile) "
for f in schemamig--*.sql; do
	[[ $data == *" $f "* ]] || fail "$f is not in the Makefile's DATA"
	head -5 "$f" | grep -q '\\echo Use ".*" to load this file. \\quit' || fail "$f lacks the \\echo guard"
done
[ -f "schemamig--$version.sql" ] || fail "no install script schemamig--$version.sql"
# every released version (a full script other than the current one) updates to the current one
for f in schemamig--*.sql; do
	v=${f#schemamig--}; v=${v%.sql}
	case "$v" in *--*) continue ;; "$version") continue ;; esac
	[ -f "schemamig--$v--$version.sql" ] || fail "no update script from $v to $version"
done
# debian/control is committed for Debian 12's majors; where pg_buildext
# supports the same ones, it must be what control.in makes of them
if [ -x /usr/bin/pg_buildext ] && [ -f /usr/share/postgresql-common/supported-versions ] &&
	[ "$(pg_buildext supported-versions | tr '\n' ' ')" = "$(sed -n 's/^Package: postgresql-\([0-9]*\)-schemamig$/\1/p' debian/control | tr '\n' ' ')" ]; then
	pg_buildext checkcontrol >/dev/null || fail "debian/control is not what pg_buildext makes of debian/control.in (pg_buildext updatecontrol)"
fi
echo "ok: version $version in schemamig.control, META.json, debian/changelog and CHANGELOG.md; scripts, DATA and update paths agree"
