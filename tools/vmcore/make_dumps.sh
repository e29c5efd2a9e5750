#!/bin/bash
# Make test vmcores of a stalling Debian kernel and fill the vmcore cache.
# See README.md beside this file.
#
# usage: make_dumps.sh [-k KTAG] [-s SCENARIO] [-n "N ..."] [-f FORMAT] [-b BOOTS]
#   -k  kernel tag of tools/capture (6.1, 6.12; default 6.1)
#   -s  capture scenario (default oom-stall)
#   -n  dump at these occurrences of "invoked oom-killer" on the console
#       (default "3 6 10"; one boot, one dump per number)
#   -f  dump-guest-memory format: kdump-zlib (default) or elf
#   -b  boots to try until a dump has an oom_lock owner (default 3; each
#       later boot shifts the numbers by +1)
# env: WORK (default /tmp/qemu-work, tools/capture's prep), CACHE (default
#      /work/vmcore-cache), PY (python with drgn; default .venv/bin/python of
#      the repository), CPU (default max,la57=off: drgn 0.3.0 and 4-level paging),
#      RUNS (work files, default $WORK/vmcore-runs/<tag>)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WORK=${WORK:-/tmp/qemu-work}
CACHE=${CACHE:-/work/vmcore-cache}
PY=${PY:-$REPO/.venv/bin/python}
CPU=${CPU:-max,la57=off}
KTAG=6.1
SCN=oom-stall
AT="3 6 10"
FMT=kdump-zlib
BOOTS=3
while getopts "k:s:n:f:b:" o; do
	case $o in
	k) KTAG=$OPTARG ;;
	s) SCN=$OPTARG ;;
	n) AT=$OPTARG ;;
	f) FMT=$OPTARG ;;
	b) BOOTS=$OPTARG ;;
	*) sed -n '2,16p' "$0"; exit 2 ;;
	esac
done
log() { echo "[vmcore] $(date -u +%H:%M:%S) $*" >&2; }
"$PY" -c 'import drgn' 2>/dev/null || { log "no drgn in $PY (python3 -m venv .venv && .venv/bin/pip install drgn)"; exit 1; }

RUNS=${RUNS:-$WORK/vmcore-runs/$KTAG}   # work files of this run (replaced)
mkdir -p "$RUNS" "$WORK/dbg" "$CACHE"
T_START=$(date +%s)

# ------------------------------------------------- boot(s) with QMP + dumps
boot=0
at=$AT
chosen=""
while [ "$boot" -lt "$BOOTS" ]; do
	boot=$((boot + 1))
	RUN=$RUNS/boot$boot
	rm -rf "$RUN"
	mkdir -p "$RUN"
	log "boot $boot: kernel $KTAG scenario $SCN, dumps at 'invoked oom-killer' occurrences $at ($FMT)"
	t0=$(date +%s)
	# tools/capture does the prep (cached in $WORK) and the boot; its LIVE
	# hook hands the console to qmp_dump.py, which stops, dumps, continues
	ACCEL=tcg CPU=$CPU WORK=$WORK OUT=$RUN EXTRA_MODULES=qemu_fw_cfg \
		QEMU_EXTRA="-device vmcoreinfo -qmp unix:$RUN/qmp.sock,server=on,wait=off" \
		VMCORE_QMP=$RUN/qmp.sock VMCORE_DIR=$RUN/dumps VMCORE_AT="$at" VMCORE_FORMAT=$FMT \
		LIVE="python3 $HERE/qmp_dump.py" \
		bash "$REPO/tools/capture/capture.sh" -S -k "$KTAG" -s "$SCN" >&2 || log "capture.sh exit $? (boot kept, checked below)"
	echo $(($(date +%s) - t0)) > "$RUN/boot_s"
	row=$(awk -F'\t' -v s="$SCN" 'NR > 1 && $3 == s' "$RUN/MANIFEST.tsv" | tail -1)
	kver=$(cut -f1 <<< "$row")
	kdeb=$(cut -f2 <<< "$row")   # e.g. linux-image-6.1.0-56-amd64_6.1.192-2_amd64
	kvers=$(cut -d_ -f2 <<< "$kdeb")
	[ -n "$kver" ] || { log "boot $boot: no MANIFEST row"; continue; }

	# -------------------------------------- matching debug vmlinux (cached)
	VMLINUX=$WORK/dbg/vmlinux-$kver
	if [ ! -s "$VMLINUX" ]; then
		t1=$(date +%s)
		ALT=$WORK/apt-alt   # capture.sh's apt config; its sources are this tag's suite now
		APT=(-o Dir::Etc::SourceList="$ALT/sources.list" -o Dir::Etc::SourceParts=/dev/null
		     -o Dir::State::Lists="$ALT/lists" -o Dir::Cache="$ALT/cache"
		     -o Acquire::Check-Valid-Until=false -o APT::Sandbox::User=root)
		dbgdeb=$(ls "$WORK"/dbg/linux-image-"$kver"-dbg_"$kvers"_*.deb 2>/dev/null | head -1 || true)
		if [ -z "$dbgdeb" ]; then
			log "download linux-image-$kver-dbg=$kvers"
			# the lists may be of another suite (capture.sh keeps only the
			# last run's): update once and retry
			(cd "$WORK/dbg" && apt-get "${APT[@]}" download "linux-image-$kver-dbg=$kvers" >&2) ||
				{ apt-get "${APT[@]}" update -qq >&2
				  (cd "$WORK/dbg" && apt-get "${APT[@]}" download "linux-image-$kver-dbg=$kvers" >&2); }
			dbgdeb=$(ls "$WORK"/dbg/linux-image-"$kver"-dbg_"$kvers"_*.deb | head -1)
		fi
		x=$WORK/dbg/x-$kver
		rm -rf "$x"; mkdir -p "$x"
		dpkg-deb --fsys-tarfile "$dbgdeb" | tar -x -C "$x" "./usr/lib/debug/boot/vmlinux-$kver"
		# not --only-keep-debug: that silently breaks drgn's per-CPU reads
		objcopy --remove-section='.rela.*' "$x/usr/lib/debug/boot/vmlinux-$kver" "$VMLINUX.tmp"
		mv "$VMLINUX.tmp" "$VMLINUX"
		rm -rf "$x"
		echo $(($(date +%s) - t1)) > "$WORK/dbg/vmlinux-$kver.prep_s"
		log "vmlinux $VMLINUX ($(du -h "$VMLINUX" | cut -f1)) in $(cat "$WORK/dbg/vmlinux-$kver.prep_s")s"
	fi

	# ------------------------------------ reassemble + verify every dump
	# in the order of N (not the glob's: at10 < at3)
	for n in $(ls "$RUN"/dumps 2>/dev/null | sed -n 's/^vmcore-at\([0-9]*\)$/\1/p' | sort -n); do
		d=$RUN/dumps/vmcore-at$n
		[ -s "$d" ] || continue
		core=$d
		if head -c 12 "$d" | grep -q makedumpfile; then
			# QEMU < 8.2 writes kdump-* flattened; drgn wants the plain form
			python3 "$HERE/unflatten.py" "$d" "$d.kdump" >/dev/null
			core=$d.kdump
		fi
		if "$PY" "$HERE/verify_dump.py" "$core" "$VMLINUX" > "$d.json" 2> "$d.err"; then
			owner=$("$PY" -c 'import json,sys; o=json.load(open(sys.argv[1]))["oom_lock_owner"]; print(o and "%s/%s" % (o["pid"], o["comm"]))' "$d.json")
			log "$(basename "$d"): drgn ok, oom_lock owner $owner"
			[ -n "$chosen" ] || [ "$owner" = None ] || chosen=$d
		else
			log "$(basename "$d"): drgn failed: $(tail -1 "$d.err")"
		fi
	done
	[ -n "$chosen" ] && break
	log "boot $boot: no dump with an oom_lock owner; next boot shifts N by +1"
	at=$(for n in $at; do printf '%s ' $((n + 1)); done)
done
[ -n "$chosen" ] || { log "no dump with an oom_lock owner after $boot boots"; exit 1; }

# ------------------------------------------------------------ fill the cache
RUN=$(dirname "$(dirname "$chosen")")
DEST=$CACHE/$kver
log "cache $DEST from $chosen"
rm -f "$DEST/READY"
mkdir -p "$DEST"
core=$chosen; [ -f "$chosen.kdump" ] && core=$chosen.kdump
cp "$core" "$DEST/vmcore.tmp" && mv "$DEST/vmcore.tmp" "$DEST/vmcore"
cp "$VMLINUX" "$DEST/vmlinux.tmp" && mv "$DEST/vmlinux.tmp" "$DEST/vmlinux"
cp "$RUN/$kver-$SCN-serial.log" "$DEST/serial.log"
python3 "$HERE/meta.py" --run "$RUN" --chosen "$chosen" --kver "$kver" --kdeb "$kdeb" \
	--scenario "$SCN" --boots "$boot" --vmlinux "$VMLINUX" --started "$T_START" --runs "$RUNS" \
	> "$DEST/meta.json.tmp"
mv "$DEST/meta.json.tmp" "$DEST/meta.json"
: > "$DEST/READY"   # last: the others poll for it
log "done: $DEST ($(du -sh "$DEST" | cut -f1)) in $(($(date +%s) - T_START))s"
