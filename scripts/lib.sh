# Shell helpers shared by scripts/run-cluster and scripts/run-spark. Sourced,
# not run: the sourcing script sets `root` (the repository) and `prog` (its
# name, for messages) first, and runs with `set -euo pipefail`.

die() { echo "$prog: $*" >&2; exit 1; }

# The address to connect to for a listening address (a wildcard becomes loopback).
connect_host() { [[ "$1" == "0.0.0.0" || "$1" == "::" ]] && echo 127.0.0.1 || echo "$1"; }

# Something accepts connections on host:port.
port_in_use() { timeout 1 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }

# A port nothing listens on, from the ephemeral-ish range.
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 40000))
    port_in_use "$1" "$p" || { echo "$p"; return; }
  done
  die "no free port found on $1"
}

# Sets `state` to the state directory, creates it and locks it (fd 9) so that
# two runs cannot share it: $1 when set (the *_DIR environment variable, named
# by $3), else BUILD_DIR/$2 next to the binary $4 when the binary is in the
# repository, else $TMPDIR/squadron-$2.
lock_state_dir() {
  local dir="$1" bin_dir
  if [[ -z "$dir" ]]; then
    bin_dir="$(cd "$(dirname "$4")" && pwd)"
    if [[ "$bin_dir/" == "$root"/* ]]; then dir="$bin_dir/$2"; else dir="${TMPDIR:-/tmp}/squadron-$2"; fi
  fi
  mkdir -p "$dir"
  state="$(cd "$dir" && pwd)"
  exec 9>"$state/lock"
  flock -n 9 || die "another $prog is using $state (set $3 for a second one)"
}

# Waits up to $2 tenths of a second for process $1 to exit.
wait_exit() {
  for _ in $(seq "$2"); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  return 1
}

# SIGTERM to process $1, SIGKILL if it is still there after $2 tenths of a
# second, and reaps it. Nothing when $1 is empty.
stop_pid() {
  [[ -n "$1" ]] || return 0
  kill -TERM "$1" 2>/dev/null || true
  wait_exit "$1" "$2" || kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# Waits until `squadron serve` (PID $1) has written its ready line into log $2
# and sets `listen` to its URI; dies with the log's tail, naming $3, if the
# process exits or $4 tenths of a second (default 600: 60 s) pass first.
wait_listening() {
  local line=""
  for _ in $(seq "${4:-600}"); do
    line="$(grep -m1 '^squadron listening on ' "$2" || true)"
    [[ -n "$line" ]] && break
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z "$line" ]]; then
    tail -n 20 "$2" >&2
    die "$3 did not start (log: $2)"
  fi
  listen="${line#squadron listening on }"
}

# --- ZooKeeper ---------------------------------------------------------------
# A standalone ZooKeeper from Debian's `zookeeper` package (scripts/bootstrap
# installs it), for a local cluster.
java="${JAVA:-java}"
zk_classpath="${ZOOKEEPER_CLASSPATH:-/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar}"
zk_pid=""

check_zookeeper() {
  command -v "$java" >/dev/null || die "java not found: scripts/bootstrap installs the zookeeper package and Java"
  [[ -f "${zk_classpath%%:*}" ]] || die "${zk_classpath%%:*} not found: scripts/bootstrap installs the zookeeper package"
}

# The reply to a ZooKeeper four-letter command on port $1, or nothing.
four_letter_word() {
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" && printf %s "$1" >&3 && cat <&3' "$1" "$2" 2>/dev/null || true
}

# Starts ZooKeeper with its data and log in directory $1, on 127.0.0.1 port
# $2 (a free one if that is taken), in a process group of its own, and waits
# until it serves. Sets zk_pid and zk_port.
start_zookeeper() {
  local dir="$1"
  zk_port="$2"
  port_in_use 127.0.0.1 "$zk_port" && zk_port="$(free_port 127.0.0.1)"
  mkdir -p "$dir/data"
  cat >"$dir/zoo.cfg" <<CFG
tickTime=200
minSessionTimeout=400
maxSessionTimeout=60000
dataDir=$(cd "$dir/data" && pwd)
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,mntr,stat,cons,conf
autopurge.purgeInterval=0
clientPortAddress=127.0.0.1
clientPort=$zk_port
CFG
  # setsid: Ctrl-C reaches the script only, which stops everything in order.
  setsid "$java" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.net.preferIPv4Stack=true \
    -cp "$zk_classpath" org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" \
    </dev/null >"$dir/zookeeper.log" 2>&1 &
  zk_pid=$!
  echo "Starting ZooKeeper on 127.0.0.1:$zk_port ..."
  for _ in $(seq 300); do
    kill -0 "$zk_pid" 2>/dev/null || { tail -n 30 "$dir/zookeeper.log" >&2; die "ZooKeeper exited (log: $dir/zookeeper.log)"; }
    four_letter_word "$zk_port" srvr | grep -q '^Mode: standalone' && return 0
    sleep 0.1
  done
  die "ZooKeeper not ready in 30 s (log: $dir/zookeeper.log)"
}
