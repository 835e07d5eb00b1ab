#!/usr/bin/env bash
# Single-node SLURM cluster on this machine, for testing the project's
# hydra/launcher=slurm path with real sbatch jobs (Debian/Ubuntu, as root).
#
#   scripts/slurm-local.sh up      install if needed, start munged/slurmctld/slurmd, wait for the node
#   scripts/slurm-local.sh down    stop exactly the daemons that `up` started (by pid)
#   scripts/slurm-local.sh status  print what runs; exit 0 if the cluster accepts jobs, 1 if not
#
# Both `up` and `down` are idempotent. Daemons that were already running before
# `up` (started by someone else) are used but never recorded, so `down` leaves them alone.
#
# Environment:
#   EPINET_SLURM_STATE_DIR  where pids of daemons we started are kept (default /tmp/epinet-al-slurm)
#   EPINET_SLURM_WAIT_S     how long `up` waits for the node to become idle (default 60)
set -euo pipefail

STATE_DIR="${EPINET_SLURM_STATE_DIR:-/tmp/epinet-al-slurm}"
WAIT_S="${EPINET_SLURM_WAIT_S:-60}"
PACKAGES=(slurmctld slurmd slurm-client munge)
SLURM_CONF=/etc/slurm/slurm.conf
CONF_MARKER="# Written by epinet-al scripts/slurm-local.sh"
MUNGE_KEY=/etc/munge/munge.key
NODE="$(hostname -s)"
PARTITION=debug

log() { echo "slurm-local: $*" >&2; }
# One-line reason on stderr, non-zero exit: callers (the pytest fixture) show this line.
die() { echo "slurm-local: ERROR: $*" >&2; exit 1; }

# --- process helpers ---------------------------------------------------------

# Is $1 a live process whose command name is $2? Guards against pid reuse.
pid_is() {
    local pid="$1" name="$2"
    [[ -n "$pid" && -r "/proc/$pid/comm" ]] && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]]
}

# Any process with exactly this command name (ours or not)?
running() { pgrep -x "$1" >/dev/null 2>&1; }

# Record that WE started daemon $1 with pid $2 (only these are stopped by `down`).
record_pid() { mkdir -p "$STATE_DIR"; echo "$2" >"$STATE_DIR/$1.pid"; }

# Wait (bounded) for a daemon's pidfile to name a live process of that name; echo the pid.
wait_pidfile() {
    local file="$1" name="$2" i pid
    for ((i = 0; i < 100; i++)); do
        pid="$(cat "$file" 2>/dev/null || true)"
        if pid_is "$pid" "$name"; then echo "$pid"; return 0; fi
        sleep 0.1
    done
    return 1
}

# --- installation --------------------------------------------------------------

missing_packages() {
    local p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
    done
}

install_packages() {
    local missing
    missing="$(missing_packages | tr '\n' ' ')"
    [[ -z "${missing// /}" ]] && return 0
    command -v apt-get >/dev/null || die "packages missing ($missing) and no apt-get to install them"
    mkdir -p "$STATE_DIR"
    local aptlog="$STATE_DIR/apt.log"
    log "installing $missing(log: $aptlog)"
    # Package postinst scripts would start the daemons through init scripts; we
    # want to start (and own) them ourselves, so forbid that during the install
    # with a temporary policy-rc.d (only if the system has none already).
    local own_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    local ok=1
    # apt-get update only now that something must be installed (it is the slow part).
    DEBIAN_FRONTEND=noninteractive apt-get update >"$aptlog" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            $missing >>"$aptlog" 2>&1 || ok=0
    [[ $own_policy == 1 ]] && rm -f /usr/sbin/policy-rc.d
    [[ $ok == 1 ]] || die "apt-get could not install $missing(no network to the package registry?); see $aptlog"
}

# --- munge -------------------------------------------------------------------

ensure_munge_key() {
    [[ -s "$MUNGE_KEY" ]] && return 0
    log "creating $MUNGE_KEY"
    install -d -o munge -g munge -m 700 /etc/munge
    dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
    chown munge:munge "$MUNGE_KEY"
    chmod 400 "$MUNGE_KEY"
}

munge_works() { munge -n 2>/dev/null | unmunge 2>/dev/null | grep -q "STATUS: *Success"; }

start_munged() {
    if munge_works; then log "munged already running"; return 0; fi
    running munged && die "a munged process runs but munge -n | unmunge fails (foreign munged with another key?)"
    # Runtime dirs are normally made by systemd/tmpfiles, absent in containers.
    install -d -o munge -g munge -m 755 /run/munge
    install -d -o munge -g munge -m 700 /var/lib/munge /var/log/munge
    rm -f /run/munge/munged.pid
    # munged refuses to run as root; it daemonizes and writes its pidfile.
    runuser -u munge -- /usr/sbin/munged || die "munged failed to start (see /var/log/munge/munged.log)"
    local pid
    pid="$(wait_pidfile /run/munge/munged.pid munged)" || die "munged did not write /run/munge/munged.pid"
    record_pid munged "$pid"
    munge_works || die "munged started (pid $pid) but munge -n | unmunge fails"
    log "started munged (pid $pid)"
}

# --- slurm -------------------------------------------------------------------

write_slurm_conf() {
    local cpus mem_mb margin
    cpus="$(nproc)"
    # RealMemory must not exceed what slurmd detects, or the node is drained as
    # "Low RealMemory": leave 10% (at least 512 MB) for the OS.
    mem_mb=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024))
    margin=$((mem_mb / 10 > 512 ? mem_mb / 10 : 512))
    mem_mb=$((mem_mb - margin > 256 ? mem_mb - margin : 256))

    # Do not silently destroy someone else's config.
    if [[ -f "$SLURM_CONF" ]] && ! grep -qF "$CONF_MARKER" "$SLURM_CONF"; then
        cp -p "$SLURM_CONF" "$SLURM_CONF.epinet-al.bak"
        log "existing $SLURM_CONF saved as $SLURM_CONF.epinet-al.bak"
    fi
    mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/slurm
    cat >"$SLURM_CONF" <<EOF
$CONF_MARKER (single-node test cluster).
ClusterName=epinet-al
# Loopback address: the cluster never needs the network.
SlurmctldHost=${NODE}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
# No cgroups in containers/sandboxes: track processes by parent pid, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# A node that was DOWN (e.g. after 'down'/'up') rejoins as soon as it registers.
ReturnToService=2
# No accounting daemon (submitit then warns "Bypassing sacct error": harmless).
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SlurmdTimeout=60
NodeName=${NODE} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=${PARTITION} Nodes=${NODE} Default=YES MaxTime=INFINITE State=UP
EOF
    log "wrote $SLURM_CONF (CPUs=$cpus RealMemory=${mem_mb}MB)"
}

# start_slurm_daemon NAME PIDFILE: start a slurm daemon unless one runs already.
start_slurm_daemon() {
    local name="$1" pidfile="$2" pid
    if running "$name"; then log "$name already running"; return 0; fi
    rm -f "$pidfile"
    local start
    start="$(date +%s)"
    # Both daemonize and write their pidfile; the pidfile gives the daemon's real pid.
    "/usr/sbin/$name" || die "$name failed to start (see /var/log/slurm/$name.log)"
    pid="$(wait_pidfile "$pidfile" "$name")" ||
        die "$name did not stay up (see /var/log/slurm/$name.log)"
    record_pid "$name" "$pid"
    [[ "$name" == slurmd ]] && SLURMD_STARTED_AT="$start"
    log "started $name (pid $pid)"
}

# Epoch second at which we started slurmd (empty: we did not start it).
SLURMD_STARTED_AT=""

# Has the node's slurmd registered with the controller since epoch $1? A
# restarted controller reports the node "idle" from its saved state before
# the new slurmd has registered; jobs would then sit pending for a while.
slurmd_registered_since() {
    local t
    t="$(scontrol show node "$NODE" 2>/dev/null | grep -o 'SlurmdStartTime=[^ ]*' | cut -d= -f2 || true)"
    [[ -n "$t" && "$t" != None ]] || return 1
    (($(date -d "$t" +%s 2>/dev/null || echo 0) >= $1))
}

node_state() { sinfo -h -n "$NODE" -o '%T' 2>/dev/null | head -n1 || true; }

# Node state in which jobs can be scheduled (a trailing * means "not responding").
usable_state() { [[ "$1" =~ ^(idle|mixed|allocated|completing)$ ]]; }

wait_for_node() {
    local deadline=$((SECONDS + WAIT_S)) state="" resumed=0
    while ((SECONDS < deadline)); do
        state="$(node_state)"
        if usable_state "$state" &&
            { [[ -z "$SLURMD_STARTED_AT" ]] || slurmd_registered_since "$SLURMD_STARTED_AT"; }; then
            log "node $NODE is $state (partition $PARTITION)"
            return 0
        fi
        # A node left DOWN/DRAINED by an earlier run (e.g. killed slurmd) is
        # put back into service; ReturnToService=2 covers most, not drains.
        if [[ "$state" =~ down|drain|fail ]] && ((resumed < 3)); then
            log "node $NODE is $state: resuming it"
            scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
            resumed=$((resumed + 1))
        fi
        sleep 1
    done
    die "node $NODE not idle after ${WAIT_S}s (state '${state:-unknown}'; see /var/log/slurm/)"
}

# --- subcommands -------------------------------------------------------------

cmd_up() {
    [[ "$(id -u)" == 0 ]] || die "must run as root (installs packages, starts system daemons)"
    local t0=$SECONDS
    # Fast path: a working cluster (ours or someone else's) is left as it is.
    if command -v sinfo >/dev/null && running slurmctld && running slurmd && munge_works \
        && usable_state "$(node_state)"; then
        log "already up: node $NODE is $(node_state)"
        return 0
    fi
    install_packages
    ensure_munge_key
    start_munged
    # Rewrite the config only when we start the controller ourselves; a running
    # controller keeps the config it was started with.
    running slurmctld || write_slurm_conf
    start_slurm_daemon slurmctld /run/slurm/slurmctld.pid
    start_slurm_daemon slurmd /run/slurm/slurmd.pid
    wait_for_node
    log "up in $((SECONDS - t0))s"
}

# stop_daemon NAME: stop the daemon we recorded, by pid, and wait for it to exit.
stop_daemon() {
    local name="$1" file="$STATE_DIR/$1.pid" pid i
    [[ -f "$file" ]] || return 0
    pid="$(cat "$file")"
    if pid_is "$pid" "$name"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 150; i++)); do pid_is "$pid" "$name" || break; sleep 0.1; done
        if pid_is "$pid" "$name"; then
            log "$name (pid $pid) ignored SIGTERM for 15s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        log "stopped $name (pid $pid)"
    else
        log "$name (pid $pid) was no longer running"
    fi
    rm -f "$file"
}

cmd_down() {
    if [[ ! -d "$STATE_DIR" ]] || ! compgen -G "$STATE_DIR/*.pid" >/dev/null; then
        log "nothing to stop (no daemons started by this script)"
        return 0
    fi
    # The jobs belong to the controller we started: cancel them so no job
    # processes (slurmstepd and children) outlive the cluster.
    if [[ -f "$STATE_DIR/slurmctld.pid" ]] && pid_is "$(cat "$STATE_DIR/slurmctld.pid")" slurmctld; then
        if [[ -n "$(squeue -h -o %i 2>/dev/null || true)" ]]; then
            log "cancelling remaining jobs"
            scancel --full --quiet $(squeue -h -o %i) 2>/dev/null || true
            local i
            for ((i = 0; i < 30; i++)); do
                [[ -z "$(squeue -h -o %i 2>/dev/null || true)" ]] && break
                sleep 0.5
            done
        fi
    fi
    # Reverse start order: node, controller, then the auth daemon they use.
    stop_daemon slurmd
    stop_daemon slurmctld
    stop_daemon munged
    log "down"
}

cmd_status() {
    local name pid owner rc=0
    for name in munged slurmctld slurmd; do
        pid="$(cat "$STATE_DIR/$name.pid" 2>/dev/null || true)"
        if pid_is "$pid" "$name"; then
            owner="started by this script (pid $pid)"
        elif running "$name"; then
            owner="running, not started by this script (pid $(pgrep -x "$name" | tr '\n' ' '| sed 's/ $//'))"
        else
            owner="not running"; rc=1
        fi
        echo "$name: $owner"
    done
    local state=""
    command -v sinfo >/dev/null && state="$(node_state)"
    echo "node $NODE: ${state:-unknown}"
    usable_state "$state" || rc=1
    return $rc
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    *) echo "usage: $0 {up|down|status}" >&2; exit 2 ;;
esac
