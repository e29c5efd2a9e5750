#!/bin/bash
# Capture real Linux kernel console logs of memory-pressure events by booting
# stock Debian kernels under QEMU with a tiny busybox initramfs.
# Based on shared/tools/qemu-capture; see README.md beside this file.
# Everything large (kernel .debs, extracted trees, initramfs, binaries) lives
# in $WORK (default: qemu-work in $TMPDIR); only logs go to $OUT.
#
# usage: capture.sh [-k "KTAG ..."] [-s "SCENARIO ..."] [-n] [-S] [-r]
#   -k  kernels (tags: 4.19 5.10 6.1 6.12; default: 5.10 6.1 6.12)
#   -s  scenarios (default: all; see README.md)
#   -n  prepare only (download, extract, build), do not boot
#   -S  skip apt-get install of host tools
#   -r  retry a boot once when it fails (QEMU error, or no "scenario done")
# env: ACCEL=tcg|kvm  WORK=DIR  OUT=DIR  MEM=MiB  QEMU_TIMEOUT=s  EXTRA_FORMS=0|1  LIVE=CMD
#      JSON_FORMS=0|1 (with EXTRA_FORMS: journalctl -k -o json / -o export, dmesg -J)
#      EXTRA_MODULES="mod ..." (opt-in: also put these modules in the initramfs,
#      which /init loads before the scenario)  QEMU_EXTRA="args" (opt-in: more
#      QEMU arguments, split on blanks); both used by tools/vmcore/
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-${TMPDIR:-/tmp}/qemu-work}
OUT=${OUT:-$PWD/qemu-captures}
MEM=${MEM:-256}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-420}
EXTRA_FORMS=${EXTRA_FORMS:-1}   # dmesg -T (util-linux) and journalctl -k (systemd)
JSON_FORMS=${JSON_FORMS:-0}     # structured forms of the same programs (off: samples unchanged)
EXTRA_MODULES=${EXTRA_MODULES:-}   # e.g. qemu_fw_cfg (tools/vmcore: QEMU's vmcoreinfo device)
QEMU_EXTRA=${QEMU_EXTRA:-}

KTAGS="5.10 6.1 6.12"
SCENARIOS="global-oom global-oom-notime memcg-oom memcg-v1-oom hung-task sysrq sysrq-oom page-alloc-fail oom-stall"
PREP_ONLY=0
INSTALL=1
RETRY=0
while getopts "k:s:nSr" o; do
	case $o in
	k) KTAGS=$OPTARG ;;
	s) SCENARIOS=$OPTARG ;;
	n) PREP_ONLY=1 ;;
	S) INSTALL=0 ;;
	r) RETRY=1 ;;
	*) sed -n '2,15p' "$0"; exit 2 ;;
	esac
done

# tag -> suite and pinned package (the ones the committed sample logs came
# from).  If a pin is gone from the archive, the suite's current
# linux-image-amd64 dependency (security suite first) is used instead, and
# the log names follow its `uname -r`.  buster (4.19) is no longer on the
# Debian mirror; the tag is kept so that the script says so.
declare -A KSUITE=([4.19]=buster [5.10]=bullseye [6.1]=bookworm [6.12]=trixie)
declare -A KPKG=(
	[4.19]=linux-image-4.19.0-27-amd64
	[5.10]=linux-image-5.10.0-46-amd64
	[6.1]=linux-image-6.1.0-56-amd64
	[6.12]=linux-image-6.12.118+deb13-amd64
)

log() { echo "[capture] $*" >&2; }

mkdir -p "$WORK"/{debs,k,bin,initrd,apt-alt/lists/partial,apt-alt/cache/archives/partial} "$OUT"

# ---------------------------------------------------------------- host tools
if [ "$INSTALL" = 1 ]; then
	need=""
	command -v qemu-system-x86_64 >/dev/null || need="$need qemu-system-x86"
	[ -x /bin/busybox ] && /bin/busybox --list | grep -qx fsfreeze || need="$need busybox-static"
	command -v cpio >/dev/null || need="$need cpio"
	command -v gcc >/dev/null || need="$need gcc libc6-dev"
	command -v mkfs.ext4 >/dev/null || need="$need e2fsprogs"
	command -v xz >/dev/null || need="$need xz-utils"
	command -v zstd >/dev/null || need="$need zstd"
	if [ "$EXTRA_FORMS" = 1 ]; then
		[ -x /usr/bin/dmesg ] || need="$need util-linux"
		[ -x /lib/systemd/systemd-journald ] && command -v journalctl >/dev/null || need="$need systemd"
	fi
	if [ -n "$need" ]; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need
	fi
fi

# ------------------------------------------------------------- apt for suites
# A private apt configuration under $WORK/apt-alt (the system's sources are
# not touched), pointing at the Debian mirror this machine's apt already uses.
ALT=$WORK/apt-alt
apt_uri() { # pattern -> first configured URI whose path matches
	{ sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null || true
	  sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' \
	      /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true
	} | tr ' ' '\n' | grep -E "$1" | head -1
}
MAIN_URI=$(apt_uri '/debian/?$')
SEC_URI=$(apt_uri '/debian-security/?$')
[ -n "$MAIN_URI" ] || { log "no Debian mirror configured in /etc/apt"; exit 1; }
KEY=/usr/share/keyrings/debian-archive-keyring.gpg
: > "$ALT/sources.list.new"
for tag in $KTAGS; do
	suite=${KSUITE[$tag]:?unknown kernel tag $tag}
	echo "deb [signed-by=$KEY] $MAIN_URI $suite main" >> "$ALT/sources.list.new"
	[ -z "$SEC_URI" ] || echo "deb [signed-by=$KEY] $SEC_URI $suite-security main" >> "$ALT/sources.list.new"
done
sort -u "$ALT/sources.list.new" > "$ALT/sources.list.want"
if ! cmp -s "$ALT/sources.list.want" "$ALT/sources.list" 2>/dev/null; then
	mv "$ALT/sources.list.want" "$ALT/sources.list"
	rm -f "$ALT/.updated"
fi
APT=(-o Dir::Etc::SourceList="$ALT/sources.list" -o Dir::Etc::SourceParts=/dev/null
     -o Dir::State::Lists="$ALT/lists" -o Dir::Cache="$ALT/cache"
     -o Acquire::Check-Valid-Until=false -o APT::Sandbox::User=root)

fetch_kernel() { # tag -> prints path of extracted tree (empty + rc 1 if none)
	local tag=$1 pkg=${KPKG[$1]} deb s
	deb=$(ls "$WORK"/debs/"${pkg}"_*.deb 2>/dev/null | head -1 || true)
	if [ -z "$deb" ]; then
		[ -f "$ALT/.updated" ] || { apt-get "${APT[@]}" update -qq >&2 || true; touch "$ALT/.updated"; }
		if ! (cd "$WORK/debs" && apt-get "${APT[@]}" download "$pkg" >&2); then
			log "$pkg not downloadable; resolving current kernel of ${KSUITE[$tag]}"
			pkg=""
			for s in "${KSUITE[$tag]}-security" "${KSUITE[$tag]}"; do
				pkg=$(apt-cache "${APT[@]}" show "linux-image-amd64/$s" 2>/dev/null |
				      sed -n 's/^Depends: \(linux-image-[^ ,]*\).*/\1/p' | head -1)
				[ -z "$pkg" ] || break
			done
			[ -n "$pkg" ] || { log "no kernel package for ${KSUITE[$tag]} in the archive"; return 1; }
			(cd "$WORK/debs" && apt-get "${APT[@]}" download "$pkg" >&2) || return 1
		fi
		deb=$(ls "$WORK"/debs/"${pkg}"_*.deb | head -1)
	fi
	local dir=$WORK/k/$(basename "$deb" .deb)
	[ -d "$dir/boot" ] || dpkg-deb -x "$deb" "$dir"
	echo "$dir"
}

# ------------------------------------------------------------ guest binaries
build_bins() {
	for p in hog pafail kmsgdump; do
		if [ ! -x "$WORK/bin/$p" ] || [ "$HERE/src/$p.c" -nt "$WORK/bin/$p" ]; then
			gcc -static -O2 -Wall -pthread -o "$WORK/bin/$p" "$HERE/src/$p.c"
		fi
	done
}

# copy a dynamically linked host program and every library ldd finds for it
# into the staging tree, at the same paths (files, not symlinks)
copy_prog() { # staging-dir host-path guest-path
	local st=$1 src=$2 dst=$3 lib
	mkdir -p "$st/$(dirname "$dst")"
	cp -L "$src" "$st/$dst"
	for lib in $(ldd "$src" | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'); do
		[ -e "$st/$lib" ] && continue
		mkdir -p "$st/$(dirname "$lib")"
		cp -L "$lib" "$st/$lib"
	done
}

# ------------------------------------------------------------------ initramfs
build_initrd() { # kdir kver -> prints initrd path
	# with EXTRA_MODULES the initramfs gets its own name (<kver>+mods) so
	# that the plain one stays as it was
	local kdir=$1 kver=$2 name=$2${EXTRA_MODULES:++mods} mdir m f
	local st=$WORK/initrd/$name
	rm -rf "$st"
	mkdir -p "$st"/{bin,sbin,proc,sys,dev,tmp,mnt,modules,etc,run,var/log}
	cp /bin/busybox "$st/bin/busybox"
	for a in $(/bin/busybox --list); do
		[ "$a" = busybox ] || ln -sf busybox "$st/bin/$a"
	done
	cp "$WORK"/bin/{hog,pafail,kmsgdump} "$st/bin/"
	cp "$HERE/init.sh" "$st/init"
	chmod 755 "$st/init"
	if [ "$EXTRA_FORMS" = 1 ]; then
		# real Debian programs (the host's packages) for the extra forms:
		# util-linux dmesg (-T) and systemd-journald + journalctl (-k)
		copy_prog "$st" /usr/bin/dmesg /usr/bin/dmesg
		copy_prog "$st" /lib/systemd/systemd-journald /usr/lib/systemd/systemd-journald
		copy_prog "$st" "$(command -v journalctl)" /usr/bin/journalctl
		echo 6c0d5e1b0a2f4c3d9e8f7a6b5c4d3e2f > "$st/etc/machine-id"
		mkdir -p "$st/etc/systemd"
		# keep the journal in /run, big enough to never rotate, and
		# forward nothing (no re-print on the console or into kmsg)
		printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=48M\nRuntimeMaxFileSize=48M\nForwardToSyslog=no\nForwardToKMsg=no\nForwardToConsole=no\nForwardToWall=no\nMaxLevelStore=debug\n' \
			> "$st/etc/systemd/journald.conf"
	fi
	mdir=$(ls -d "$kdir"/lib/modules/"$kver" "$kdir"/usr/lib/modules/"$kver" 2>/dev/null | head -1)
	for m in crc16 mbcache jbd2 crc32c_generic ext4 loop $EXTRA_MODULES; do
		f=$(find "$mdir" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -1)
		[ -n "$f" ] || { log "module $m not found for $kver (maybe built in)"; continue; }
		case $f in
		*.xz) xz -dc "$f" > "$st/modules/$m.ko" ;;
		*.zst) zstd -dc "$f" > "$st/modules/$m.ko" ;;
		*) cp "$f" "$st/modules/$m.ko" ;;
		esac
	done
	# /init loads the modules listed here (one per line) before the scenario
	[ -z "$EXTRA_MODULES" ] || printf '%s\n' $EXTRA_MODULES > "$st/modules/extra.list"
	# small ext4 image (features every kernel >= 4.x mounts); the guest
	# attaches it to a loop device and freezes it to create D-state tasks
	truncate -s 8M "$st/ext4.img"
	mkfs.ext4 -q -F -O ^metadata_csum,^orphan_file,^metadata_csum_seed "$st/ext4.img" >/dev/null 2>&1 ||
		mkfs.ext4 -q -F -O ^metadata_csum "$st/ext4.img"
	(cd "$st" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -6) > "$WORK/initrd/$name.cpio.gz"
	echo "$WORK/initrd/$name.cpio.gz"
}

# ---------------------------------------------------------------------- boot
# KVM is used only if a probe boot with it actually reaches the kernel's
# first printk; otherwise (no /dev/kvm, or a /dev/kvm that cannot run a
# stock kernel, e.g. a PVM-based nested KVM) fall back to TCG.
ACCEL=${ACCEL:-}
CPU=${CPU:-}
probe_kvm() { # kernel image
	local cpu p=$WORK/kvm-probe.log
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
	for cpu in host host,-arch-capabilities; do
		rm -f "$p"
		( timeout -k 5 30 qemu-system-x86_64 -machine pc,accel=kvm -cpu "$cpu" -m 256 -smp 1 \
			-nodefaults -display none -no-reboot -kernel "$1" \
			-append "console=ttyS0 panic=-1" -serial file:"$p"; true ) >/dev/null 2>&1
		if grep -aq 'Linux version' "$p" 2>/dev/null; then CPU=$cpu; return 0; fi
	done
	return 1
}
pick_accel() { # kernel image
	[ -n "$ACCEL" ] && { [ -n "$CPU" ] || CPU=$([ "$ACCEL" = kvm ] && echo host || echo max); return; }
	if probe_kvm "$1"; then ACCEL=kvm; else ACCEL=tcg; CPU=max; fi
	log "accelerator: $ACCEL (cpu $CPU)"
}

FORMS="serial dmesg kmsg"
[ "$EXTRA_FORMS" = 1 ] && FORMS="$FORMS dmesg-T journal"
[ "$EXTRA_FORMS$JSON_FORMS" = 11 ] && FORMS="$FORMS journal-json journal-export dmesg-J"

boot_ok() { # base -> 0 if the boot ran its scenario to the end
	grep -aq 'qemu-capture: scenario done' "$1-serial.log" 2>/dev/null &&
		[ "$(grep -ac 'Linux version' "$1-serial.log")" = 1 ] &&
		[ -s "$1-dmesg.log" ] && [ -s "$1-kmsg.log" ]
}

run_scenario() { # kdir kver initrd scenario -> rc 0 if boot_ok
	local kdir=$1 kver=$2 initrd=$3 scn=$4 smp=2 time=1 base f
	case $scn in
	global-oom|oom-stall) smp=4 ;;
	global-oom-notime) smp=4; time=0 ;;
	esac
	base=$OUT/$kver-$scn
	# 8250.nr_uarts=5: room for the PCI serial port (ttyS4) next to the
	# four legacy ISA ports
	# (JSON_FORMS: 8, three more PCI ports, ttyS5-7)
	local uarts=5
	[ "$EXTRA_FORMS$JSON_FORMS" = 11 ] && uarts=8
	local append="console=ttyS0,115200 loglevel=7 printk.time=$time log_buf_len=8M 8250.nr_uarts=$uarts scn=$scn failsafe=$((QEMU_TIMEOUT - 20))"
	local con=(-serial file:"$base-serial.log")
	# LIVE=CMD: the console on QEMU's stdout, piped live into CMD (called with the serial
	# log's path: it writes the log itself), e.g. tools/capture/watch_live.py
	[ -n "${LIVE:-}" ] && con=(-chardev stdio,id=con0,signal=off -serial chardev:con0)
	local ports=("${con[@]}" -serial file:"$base-dmesg.log" -serial file:"$base-kmsg.log")
	for f in serial dmesg kmsg dmesg-T journal journal-json journal-export dmesg-J; do
		rm -f "$base-$f.log"
	done
	if [ "$EXTRA_FORMS" = 1 ]; then
		ports+=(-serial file:"$base-dmesg-T.log"
			-chardev file,id=jrnl,path="$base-journal.log" -device pci-serial,chardev=jrnl)
	fi
	if [ "$EXTRA_FORMS$JSON_FORMS" = 11 ]; then
		for f in journal-json journal-export dmesg-J; do
			ports+=(-chardev file,id="$f",path="$base-$f.log" -device pci-serial,chardev="$f")
		done
	fi
	log "boot $kver scenario=$scn smp=$smp mem=${MEM}M accel=$ACCEL"
	local t0 t1 rc=0
	t0=$(date +%s.%N)
	local qemu=(timeout -k 10 "$QEMU_TIMEOUT" qemu-system-x86_64
		-machine pc,accel="$ACCEL" -cpu "$CPU" -m "$MEM" -smp "$smp"
		-nodefaults -display none -no-reboot
		-kernel "$kdir/boot/vmlinuz-$kver" -initrd "$initrd"
		-append "$append" "${ports[@]}")
	if [ -n "$QEMU_EXTRA" ]; then
		local extra
		read -ra extra <<< "$QEMU_EXTRA"
		qemu+=("${extra[@]}")
	fi
	if [ -n "${LIVE:-}" ]; then
		"${qemu[@]}" </dev/null | $LIVE "$base-serial.log" || rc=$?
	else
		"${qemu[@]}" || rc=$?
	fi
	t1=$(date +%s.%N)
	local wall init_ts done_ts ok=1
	wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
	# guest uptime when /init started and when the scenario finished (the
	# init script prints both; works with printk.time=0 too)
	init_ts=$(grep -a -m1 -o 'qemu-capture: init start.*uptime=[0-9.]*' "$base-serial.log" | sed 's/.*uptime=//' || true)
	done_ts=$(grep -a -m1 -o 'qemu-capture: scenario done at uptime [0-9.]*' "$base-serial.log" | sed 's/.*uptime //' || true)
	boot_ok "$base" || ok=0
	log "  rc=$rc ok=$ok wall=${wall}s init_at=${init_ts:-?}s done_at=${done_ts:-?}s"
	# one row per kernel+scenario: drop the row of an earlier capture
	awk -F'\t' -v k="$kver" -v s="$scn" '!($1 == k && $3 == s)' "$OUT/MANIFEST.tsv" > "$OUT/MANIFEST.tsv.new"
	mv "$OUT/MANIFEST.tsv.new" "$OUT/MANIFEST.tsv"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kver" "$(basename "$kdir")" "$scn" "$ACCEL" "$smp" "$MEM" "$rc" "$ok" \
		"$wall" "${init_ts:-}" "${done_ts:-}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$append" >> "$OUT/MANIFEST.tsv"
	[ "$ok" = 1 ]
}

build_bins
[ -f "$OUT/MANIFEST.tsv" ] || printf 'kernel\tpackage\tscenario\taccel\tsmp\tmem_mb\tqemu_rc\tok\twall_s\tinit_uptime_s\tdone_uptime_s\tcaptured_utc\tcmdline\n' > "$OUT/MANIFEST.tsv"
FAILED=""
for tag in $KTAGS; do
	if ! kdir=$(fetch_kernel "$tag"); then
		log "kernel $tag (${KSUITE[$tag]}): not available, skipped"
		FAILED="$FAILED $tag:unavailable"
		continue
	fi
	kver=$(ls "$kdir/boot" | sed -n 's/^vmlinuz-//p' | head -1)
	initrd=$(build_initrd "$kdir" "$kver")
	log "kernel $tag: $kver ($(basename "$kdir")), initrd $initrd"
	[ "$PREP_ONLY" = 1 ] && continue
	pick_accel "$kdir/boot/vmlinuz-$kver"
	for scn in $SCENARIOS; do
		if [ "$scn" = memcg-v1-oom ] && grep -q '^# CONFIG_MEMCG_V1 is not set' "$kdir/boot/config-$kver"; then
			log "skip $scn on $kver (CONFIG_MEMCG_V1 not set)"
			continue
		fi
		run_scenario "$kdir" "$kver" "$initrd" "$scn" && continue
		if [ "$RETRY" = 1 ]; then
			log "  retrying $kver $scn once"
			run_scenario "$kdir" "$kver" "$initrd" "$scn" && continue
		fi
		FAILED="$FAILED $kver:$scn"
	done
done
[ -z "$FAILED" ] || { log "failed:$FAILED"; exit 1; }
