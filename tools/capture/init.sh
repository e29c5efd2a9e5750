#!/bin/sh
# /init of the capture initramfs (busybox ash, PID 1).
# The scenario is chosen by "scn=NAME" on the kernel command line.
# stdout/stderr are /dev/console (= ttyS0, captured by QEMU to the -serial
# log).  The console gets only what the kernel prints live plus the short
# "qemu-capture:" progress lines of this script: the log dumps at the end go
# to their own ports and are NOT re-printed on the console:
#   ttyS1  busybox `dmesg`               (syslog(2) READ_ALL)
#   ttyS2  kmsgdump                      (raw /dev/kmsg records)
#   ttyS3  util-linux `dmesg -T`         (if /usr/bin/dmesg is in the initramfs)
#   ttyS4  `journalctl -k` from a systemd-journald started after the
#          scenario                      (if journald is in the initramfs)
#   ttyS5-7 (capture.sh JSON_FORMS=1) `journalctl -k -o json`, `-o export`, `dmesg -J`
# Every path ends in `poweroff -f`; a background failsafe powers off too.

export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mkdir -p /tmp /mnt/frz
mount -t tmpfs -o size=16m tmpfs /tmp

say() { echo "qemu-capture: $*"; }
hostname qemu-guest

SCN=$(sed -n 's/.*scn=\([^ ]*\).*/\1/p' /proc/cmdline)
FAILSAFE=$(sed -n 's/.*failsafe=\([0-9]*\).*/\1/p' /proc/cmdline)
[ -n "$FAILSAFE" ] || FAILSAFE=400
( sleep "$FAILSAFE"; echo "qemu-capture: FAILSAFE poweroff after ${FAILSAFE}s"; poweroff -f ) &

say "init start, scenario=$SCN, kernel=$(uname -r), uptime=$(cut -d' ' -f1 /proc/uptime)s"
say "MemTotal: $(sed -n 's/^MemTotal: *//p' /proc/meminfo), CPUs: $(nproc)"

# opt-in (capture.sh EXTRA_MODULES): more modules, loaded before the scenario
# (tools/vmcore: qemu_fw_cfg hands the kernel's vmcoreinfo to QEMU)
if [ -s /modules/extra.list ]; then
	while read -r m; do
		if insmod /modules/$m.ko; then say "loaded module $m"; else say "insmod $m failed"; fi
	done < /modules/extra.list
fi

load_modules() {
	for m in crc16 mbcache jbd2 crc32c_generic ext4 loop; do
		[ -f /modules/$m.ko ] && insmod /modules/$m.ko 2>/dev/null
	done
}

# ext4 image on a loop device, then freeze it: anything that then tries to
# write there sleeps in sb_start_write() -> TASK_UNINTERRUPTIBLE (D state).
FROZEN=0
MOUNTED=0
mount_fs() {
	[ "$MOUNTED" = 1 ] && return 0
	load_modules
	LOOP=$(losetup -f)
	losetup "$LOOP" /ext4.img || { say "losetup failed"; return 1; }
	mount -t ext4 "$LOOP" /mnt/frz || { say "mount ext4 failed"; return 1; }
	echo hello > /mnt/frz/seed && sync
	MOUNTED=1
}
setup_frozen_fs() {
	mount_fs || return 1
	fsfreeze --freeze /mnt/frz && FROZEN=1
	say "froze ext4 on $LOOP at /mnt/frz (frozen=$FROZEN)"
}
thaw_fs() {
	if [ "$FROZEN" = 1 ]; then fsfreeze --unfreeze /mnt/frz && FROZEN=0 && say "thawed /mnt/frz"; fi
}

HOGPIDS=""
spawn() { "$@" & HOGPIDS="$HOGPIDS $!"; }
# spawn a hog inside a cgroup: $1 = cgroup procs file, rest = hog args
spawn_in() { f=$1; shift; sh -c 'echo $$ > '"$f"'; exec "$@"' sh "$@" & HOGPIDS="$HOGPIDS $!"; }

# Only shell builtins here (no fork/exec): under an OOM storm every fork is
# slow, and a loop that forks per check stops keeping time.
uptime_s() { read -r UP _ < /proc/uptime; UP=${UP%.*}; }
count_alive() { # sets ALIVE; drops vanished pids from HOGPIDS
	ALIVE=0; keep=""
	for p in $HOGPIDS; do
		st=""
		if [ -r /proc/$p/status ]; then
			while read -r k v _; do
				if [ "$k" = "State:" ]; then st=$v; break; fi
			done 2>/dev/null < /proc/$p/status
		fi
		case $st in
		# a killed hog whose D-state thread is still stuck has a zombie
		# leader: keep its pid (to reap later) but do not count it
		R|S|D|T|t) ALIVE=$((ALIVE+1)); keep="$keep $p" ;;
		Z) keep="$keep $p" ;;
		esac
	done
	HOGPIDS=$keep
}
# storm WANT SECS MAX FUNC: keep WANT processes (each started by "FUNC n")
# alive for SECS seconds, starting at most MAX; every OOM kill is answered by
# a new process, so the OOM killer runs again and again.
storm() {
	want=$1; secs=$2; max=$3; fn=$4
	uptime_s; end=$((UP + secs)); N=0
	while :; do
		uptime_s; [ "$UP" -ge "$end" ] && break
		count_alive
		while [ "$ALIVE" -lt "$want" ] && [ "$N" -lt "$max" ]; do
			N=$((N+1)); $fn $N; ALIVE=$((ALIVE+1))
		done
		[ "$N" -ge "$max" ] && [ "$ALIVE" -eq 0 ] && break
		sleep 1
	done
	say "storm: started $N processes"
}
kill_hogs() {
	for p in $HOGPIDS; do kill -9 $p 2>/dev/null; done
	thaw_fs
	sleep 1
	# only our own children: a bare `wait` would also wait for the failsafe
	for p in $HOGPIDS; do wait $p 2>/dev/null; done
	HOGPIDS=""
}

# Libraries of the Debian (glibc) programs copied into the initramfs.
GLIBC_LD=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu/systemd

# Journal form: start systemd-journald only now, after the scenario, exactly
# as on a booting system where journald starts after the kernel: on start it
# reads every record still in the /dev/kmsg buffer (from the first one) into
# its journal.  Its own diagnostics go nowhere (SYSTEMD_LOG_TARGET=null) so
# that it writes nothing to /dev/kmsg or the console.
journal_dump() { # $1 = output device
	[ -x /usr/lib/systemd/systemd-journald ] && [ -x /usr/bin/journalctl ] || return 0
	mkdir -p /run /var/log
	mount -t tmpfs -o size=64m,mode=755 tmpfs /run
	mkdir -p /run/systemd/journal /run/log/journal
	# journald needs a cgroup2 (unified) tree at /sys/fs/cgroup; stack
	# one over whatever the scenario mounted there
	[ "$(stat -f -c %t /sys/fs/cgroup 2>/dev/null)" = 63677270 ] ||
		mount -t cgroup2 none /sys/fs/cgroup
	SYSTEMD_LOG_TARGET=null LD_LIBRARY_PATH=$GLIBC_LD \
		/usr/lib/systemd/systemd-journald </dev/null >/dev/null 2>&1 &
	JPID=$!
	# wait until the kernel records are in (journald reads them before it
	# serves clients; the entry count stops growing)
	n=0; last=-1; i=0
	while [ $i -lt 30 ]; do
		sleep 1; i=$((i+1))
		n=$(LD_LIBRARY_PATH=$GLIBC_LD /usr/bin/journalctl -k -q --no-pager -o cat 2>/dev/null | wc -l)
		[ "$n" -gt 0 ] && [ "$n" = "$last" ] && break
		last=$n
	done
	LD_LIBRARY_PATH=$GLIBC_LD /usr/bin/journalctl -k --no-pager > "$1" 2>/dev/null
	# JSON_FORMS (capture.sh): the same journal as JSON and export streams
	if [ -e /dev/ttyS7 ]; then
		LD_LIBRARY_PATH=$GLIBC_LD /usr/bin/journalctl -k --no-pager -o json > /dev/ttyS5 2>/dev/null
		LD_LIBRARY_PATH=$GLIBC_LD /usr/bin/journalctl -k --no-pager -o export > /dev/ttyS6 2>/dev/null
	fi
	say "journal: $n lines after ${i}s"
	kill $JPID 2>/dev/null; wait $JPID 2>/dev/null
}

dump_logs() {
	say "scenario done at uptime $(cut -d' ' -f1 /proc/uptime)s"
	sleep 2
	# Each form goes to its own serial port (raw: LF line ends, no echo),
	# nothing of it is echoed on the console.
	for t in /dev/ttyS1 /dev/ttyS2 /dev/ttyS3 /dev/ttyS4 /dev/ttyS5 /dev/ttyS6 /dev/ttyS7; do
		[ -e $t ] && stty -F $t raw -echo clocal 2>/dev/null
	done
	dmesg > /dev/ttyS1
	kmsgdump > /dev/ttyS2
	if [ -x /usr/bin/dmesg ] && [ -e /dev/ttyS3 ]; then
		LD_LIBRARY_PATH=$GLIBC_LD /usr/bin/dmesg -T > /dev/ttyS3
		# JSON_FORMS: util-linux dmesg --json (2.37+) of the same buffer
		[ -e /dev/ttyS7 ] && LD_LIBRARY_PATH=$GLIBC_LD /usr/bin/dmesg -J > /dev/ttyS7
	fi
	[ -e /dev/ttyS4 ] && journal_dump /dev/ttyS4
	say "powering off"
	sync
	poweroff -f
}

case "$SCN" in

global-oom|global-oom-notime|oom-stall)
	# Several multi-threaded hogs at once, no limits, no swap: the global
	# OOM killer fires repeatedly.  Every other hog also has one thread
	# stuck in D state on a frozen ext4, so a killed victim cannot exit
	# promptly and the oom_reaper has to reap its memory.
	# oom-stall: SysRq-w (blocked tasks) every second of the storm: tasks
	# asleep inside the page allocator (a lost oom_lock trylock's 1-jiffy
	# backoff, reclaim throttling) show in D state with their traces, the
	# stall evidence of kernels without warn_alloc stall reports (>= 4.15).
	if [ "$SCN" = oom-stall ]; then
		echo 1 > /proc/sys/kernel/sysrq
		( while :; do echo w > /proc/sysrq-trigger; sleep 1; done ) &
		SYSRQ_LOOP=$!
	fi
	setup_frozen_fs
	# a small bystander that is never chosen (oom_score_adj -1000)
	hog -t 1 -m 4 -o -1000 -n keeper &
	KEEPER=$!
	global_hog() {
		case $(($1 % 4)) in
		0) spawn hog -t 4 -c 1024 -n hog -D /mnt/frz/h$1 ;;
		1) spawn hog -t 4 -c 1024 -n hog ;;
		2) spawn hog -t 3 -c 256 -n hog -o 300 -D /mnt/frz/h$1 ;;
		3) spawn hog -t 6 -c 2048 -n hog ;;
		esac
	}
	storm 4 60 32 global_hog
	kill -9 $KEEPER; wait $KEEPER 2>/dev/null
	kill_hogs
	if [ -n "${SYSRQ_LOOP:-}" ]; then
		kill $SYSRQ_LOOP; wait $SYSRQ_LOOP 2>/dev/null
		say "SysRq-w loop stopped; quiet for 30 s"
		sleep 30
	fi
	;;

memcg-oom)
	# cgroup v2 memory controller, hard limit memory.max.
	mkdir -p /sys/fs/cgroup
	mount -t cgroup2 none /sys/fs/cgroup
	echo "+memory" > /sys/fs/cgroup/cgroup.subtree_control
	mkdir /sys/fs/cgroup/box
	echo 48M > /sys/fs/cgroup/box/memory.max
	say "phase 1: cgroup v2 /box memory.max=$(cat /sys/fs/cgroup/box/memory.max)"
	box_hog() { spawn_in /sys/fs/cgroup/box/cgroup.procs hog -t 3 -c 512 -n hog; }
	storm 2 40 16 box_hog
	kill_hogs
	say "phase 1 done; memory.events: $(tr '\n' ' ' < /sys/fs/cgroup/box/memory.events)"
	# phase 2: memory.oom.group=1: the whole group is killed together.
	mkdir /sys/fs/cgroup/grp
	echo 40M > /sys/fs/cgroup/grp/memory.max
	echo 1 > /sys/fs/cgroup/grp/memory.oom.group
	say "phase 2: cgroup v2 /grp memory.max=$(cat /sys/fs/cgroup/grp/memory.max) memory.oom.group=1"
	for i in 1 2 3; do
		spawn_in /sys/fs/cgroup/grp/cgroup.procs hog -t 2 -c 256 -u 2000 -n grphog
	done
	sleep 10
	kill_hogs
	say "phase 2 done; memory.events: $(tr '\n' ' ' < /sys/fs/cgroup/grp/memory.events)"
	;;

memcg-v1-oom)
	# Legacy cgroup v1 memory controller (not available in kernels built
	# without CONFIG_MEMCG_V1, e.g. Debian 6.12).
	mkdir -p /sys/fs/cgroup
	mount -t tmpfs cgroup_root /sys/fs/cgroup
	mkdir /sys/fs/cgroup/memory
	if mount -t cgroup -o memory memory /sys/fs/cgroup/memory; then
		mkdir /sys/fs/cgroup/memory/box
		echo 48M > /sys/fs/cgroup/memory/box/memory.limit_in_bytes
		say "cgroup v1 /box memory.limit_in_bytes=$(cat /sys/fs/cgroup/memory/box/memory.limit_in_bytes)"
		v1_hog() { spawn_in /sys/fs/cgroup/memory/box/tasks hog -t 3 -c 512 -n hog; }
		storm 2 40 16 v1_hog
		kill_hogs
		say "done; failcnt=$(cat /sys/fs/cgroup/memory/box/memory.failcnt)"
	else
		say "cgroup v1 memory controller not available on this kernel"
	fi
	;;

hung-task)
	# Freeze an ext4 fs and make a few tasks block on it (D state); the
	# hung-task watchdog (khungtaskd) reports them after 5 s, repeatedly,
	# until kernel.hung_task_warnings (10) is used up.
	echo 5 > /proc/sys/kernel/hung_task_timeout_secs
	say "hung_task_timeout_secs=$(cat /proc/sys/kernel/hung_task_timeout_secs) warnings=$(cat /proc/sys/kernel/hung_task_warnings)"
	mount_fs
	# a writer that already has its file open: blocks in vfs_write() later
	spawn hog -t 1 -m 4 -n writer -D /mnt/frz/w
	sleep 2
	setup_frozen_fs
	sh -c 'echo data > /mnt/frz/a' &
	HOGPIDS="$HOGPIDS $!"
	touch /mnt/frz/b &
	HOGPIDS="$HOGPIDS $!"
	mkdir /mnt/frz/c &
	HOGPIDS="$HOGPIDS $!"
	dd if=/dev/zero of=/mnt/frz/seed bs=4k count=4 conv=notrunc 2>/dev/null &
	HOGPIDS="$HOGPIDS $!"
	sleep 2
	say "blocked tasks: $(for p in $HOGPIDS; do printf '%s:%s ' $p "$(sed -n 's/^State:\t//p' /proc/$p/status 2>/dev/null)"; done)"
	sleep 40
	thaw_fs
	sleep 2
	kill_hogs   # the writer hog would otherwise hold on forever
	;;

sysrq)
	# SysRq m (memory), t (all tasks), w (blocked tasks), l (CPU backtraces)
	# while hogs hold most of RAM and one task is stuck in D state.
	echo 1 > /proc/sys/kernel/sysrq
	setup_frozen_fs
	sh -c 'echo x > /mnt/frz/blocked' &
	HOGPIDS="$HOGPIDS $!"
	for i in 1 2 3; do spawn hog -t 2 -c 1024 -a 20 -u 5000 -n hog; done
	sleep 12
	say "MemAvailable now: $(sed -n 's/^MemAvailable: *//p' /proc/meminfo)"
	for k in m t w l; do
		say "echo $k > /proc/sysrq-trigger"
		echo $k > /proc/sysrq-trigger
		sleep 2
	done
	kill_hogs
	;;

sysrq-oom)
	# SysRq f: manual OOM-killer invocation (order=-1) while hogs hold RAM.
	echo 1 > /proc/sys/kernel/sysrq
	for i in 1 2 3; do spawn hog -t 2 -c 1024 -a 30 -u 5000 -n hog; done
	sleep 12
	for i in 1 2; do
		say "echo f > /proc/sysrq-trigger"
		echo f > /proc/sysrq-trigger
		sleep 3
	done
	kill_hogs
	;;

page-alloc-fail)
	# Costly-order GFP_KERNEL kmalloc()s (order 4..10) via sendmsg() control
	# buffers while a hog holds almost all memory (no swap): the allocator
	# gives up (no OOM kill for costly orders) and warn_alloc() prints
	# "page allocation failure".
	echo 8388608 > /proc/sys/net/core/optmem_max
	say "optmem_max=$(cat /proc/sys/net/core/optmem_max)"
	say "baseline (memory free): $(pafail -s 1 -f 100)"
	# one thread, 256 KiB steps, no THP: stops just under 4 MiB MemFree,
	# too little for compaction to build an order >= 8 block, without OOM
	spawn hog -t 1 -c 256 -N -f 4 -n hog
	sleep 10
	say "MemAvailable now: $(sed -n 's/^MemAvailable: *//p' /proc/meminfo), MemFree: $(sed -n 's/^MemFree: *//p' /proc/meminfo)"
	say "under pressure: $(pafail -s 40 -f 100000 -u 250000)"
	kill_hogs
	;;

*)
	say "unknown scenario '$SCN'"
	;;
esac

dump_logs
