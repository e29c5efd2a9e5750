#!/bin/sh
# The structured forms in sample_logs/structured/ of a /dev/kmsg capture in sample_logs/qemu/:
# journal JSON, JSON-seq and export printed by the real journalctl from a journal file that
# systemd-journal-remote built of tools/journal_from_kmsg.py's export stream, and dmesg -J by
# tools/dmesg_json_from_kmsg.py. Needs systemd-journal-remote (Debian package of that name).
#   tools/make_structured.sh BOOT BOOT_WALL     e.g. 6.1.0-56-amd64-memcg-oom 2026-11-25T18:48:57
set -eu
boot=$1 wall=$2
in=$(ls sample_logs/qemu/"$boot"-kmsg.log*)
out=sample_logs/structured
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 tools/journal_from_kmsg.py "$in" --boot-wall "$wall" > "$tmp/in.export"
/lib/systemd/systemd-journal-remote -o "$tmp/j.journal" - < "$tmp/in.export"
for mode in json json-seq export; do
	journalctl --file "$tmp/j.journal" -o "$mode" --all | xz -9 > "$out/$boot-journal-$mode.log.xz"
done
python3 tools/dmesg_json_from_kmsg.py "$in" | xz -9 > "$out/$boot-dmesg-J.log.xz"
