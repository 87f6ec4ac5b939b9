#!/usr/bin/env bash
# A real local OpenSearch (2.19.1 with the k-NN plugin), built from Maven Central artifacts by the
# Maven module in deploy/opensearch-node/ (no Docker, no download outside Maven Central).
#
#   bash scripts/opensearch.sh start [--nodes N] [--port P] [--dir DIR] [--heap SIZE] [--fresh]
#   bash scripts/opensearch.sh stop [--dir DIR]
#   bash scripts/opensearch.sh status [--dir DIR]
#   bash scripts/opensearch.sh build
#
# start: builds the node once (Maven caches the artifacts in ~/.m2; later starts skip the build),
#   starts N nodes (default 1), one JVM each, on 127.0.0.1 with HTTP ports P, P+1, ... (default
#   9200) and transport ports P+100, ..., waits until the cluster is green (yellow is enough for one
#   node, whose replicas have nowhere to go) and prints the URL of the first node on stdout. Nodes
#   of DIR that are already running are left alone, so `start` after a node was killed restarts
#   just that node. --fresh wipes DIR first (refused while a node of DIR runs).
# stop: SIGTERM to every node of DIR (a clean shutdown), SIGKILL after 30 s.
#
# Everything of a cluster lives under DIR (default .opensearch/ in the repository, git-ignored):
# DIR/node-I/{data,logs}, DIR/node-I.pid, DIR/node-I.log, DIR/cluster.env (ports and node count).
# Environment: JAVA_HOME or java on PATH (17 or newer); mvn on PATH for the build.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODULE="$REPO_ROOT/deploy/opensearch-node"
TARGET="$MODULE/target"
MAIN_CLASS=org.archivesearch.node.ArchiveNode

log() { printf '[opensearch] %s\n' "$*" >&2; }
die() { printf '[opensearch] ERROR: %s\n' "$*" >&2; exit 1; }

cmd="${1:-}"
[ -n "$cmd" ] || die "usage: opensearch.sh start|stop|status|build [options]"
shift

NODES=1
PORT=9200
DIR="$REPO_ROOT/.opensearch"
HEAP=512m
FRESH=0
TIMEOUT_S=180
while [ $# -gt 0 ]; do
    case "$1" in
        --nodes) NODES="$2"; shift 2 ;;
        --port) PORT="$2"; shift 2 ;;
        --dir) DIR="$2"; shift 2 ;;
        --heap) HEAP="$2"; shift 2 ;;
        --timeout) TIMEOUT_S="$2"; shift 2 ;;
        --fresh) FRESH=1; shift ;;
        *) die "unknown option: $1" ;;
    esac
done
[[ "$NODES" =~ ^[1-9][0-9]*$ ]] || die "--nodes takes a positive number"
[[ "$PORT" =~ ^[0-9]+$ ]] || die "--port takes a number"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"

JAVA="java"
[ -n "${JAVA_HOME:-}" ] && JAVA="$JAVA_HOME/bin/java"

build() {
    # Rebuild only when the module's sources changed since the last good build.
    local stamp="$TARGET/.built"
    if [ -f "$stamp" ] && [ -z "$(find "$MODULE/pom.xml" "$MODULE/src" -newer "$stamp" -print -quit)" ] \
        && [ -d "$TARGET/lib" ]; then
        return 0
    fi
    command -v mvn >/dev/null 2>&1 || die "mvn not found (bash scripts/setup.sh installs it)"
    log "building the node (Maven; artifacts cached in ~/.m2)"
    (cd "$MODULE" && mvn -B -q -Dmaven.test.skip=true clean package) >&2 || die "Maven build failed"
    touch "$stamp"
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

running_pids() {
    local f
    for f in "$DIR"/node-*.pid; do
        [ -e "$f" ] || continue
        if pid_alive "$f"; then cat "$f"; else rm -f "$f"; fi
    done
}

health() {
    # Prints the cluster status (green/yellow/red) or nothing when no node answers.
    local port="$1"
    { curl -fsS --max-time 5 "http://127.0.0.1:$port/_cluster/health" 2>/dev/null || true; } \
        | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p'
}

start() {
    build
    if [ "$FRESH" = "1" ]; then
        [ -z "$(running_pids)" ] || die "--fresh: nodes of $DIR are running; stop them first"
        rm -rf "${DIR:?}"/node-* "$DIR/cluster.env"
    fi
    if [ -f "$DIR/cluster.env" ]; then
        # A cluster keeps its ports and size: a restarted node must rejoin its peers.
        # shellcheck disable=SC1091
        . "$DIR/cluster.env"
    else
        printf 'NODES=%s\nPORT=%s\nHEAP=%s\n' "$NODES" "$PORT" "$HEAP" >"$DIR/cluster.env"
    fi
    local seeds="" masters="" i
    for ((i = 0; i < NODES; i++)); do
        seeds+="${seeds:+,}127.0.0.1:$((PORT + 100 + i))"
        masters+="${masters:+,}node-$i"
    done
    for ((i = 0; i < NODES; i++)); do
        local pidf="$DIR/node-$i.pid"
        if pid_alive "$pidf"; then
            continue
        fi
        local home="$DIR/node-$i"
        mkdir -p "$home/data" "$home/logs" "$home/config"
        local -a args=(
            "path.home=$home" "path.data=$home/data" "path.logs=$home/logs"
            "cluster.name=archive-dev" "node.name=node-$i"
            "http.port=$((PORT + i))" "transport.port=$((PORT + 100 + i))"
        )
        if [ "$NODES" = "1" ]; then
            args+=("discovery.type=single-node")
        else
            args+=("discovery.seed_hosts=$seeds" "cluster.initial_cluster_manager_nodes=$masters")
        fi
        log "starting node-$i (http $((PORT + i)), heap $HEAP)"
        # setsid: the node is not in the caller's process group, so it outlives a finished shell
        # and a Ctrl-C in the caller's terminal does not reach it.
        setsid "$JAVA" -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseSerialGC -Djava.awt.headless=true \
            -Dlog4j2.formatMsgNoLookups=true -Djava.io.tmpdir="$home" \
            -cp "$TARGET/classes:$TARGET/lib/*" "$MAIN_CLASS" "${args[@]}" \
            >>"$DIR/node-$i.log" 2>&1 </dev/null &
        echo $! >"$pidf"
    done
    local want=green
    [ "$NODES" = "1" ] && want=yellow
    local deadline=$((SECONDS + TIMEOUT_S)) status=""
    while [ $SECONDS -lt $deadline ]; do
        for ((i = 0; i < NODES; i++)); do
            pid_alive "$DIR/node-$i.pid" || die "node-$i exited; see $DIR/node-$i.log"
        done
        status="$(health "$PORT")"
        if [ "$status" = green ] || { [ "$want" = yellow ] && [ "$status" = yellow ]; }; then
            local n
            n="$({ curl -fsS --max-time 5 "http://127.0.0.1:$PORT/_cat/nodes?h=name" || true; } | wc -l)"
            if [ "$n" -ge "$NODES" ]; then
                log "cluster $status with $n node(s)"
                echo "http://127.0.0.1:$PORT"
                return 0
            fi
        fi
        sleep 1
    done
    die "cluster not $want after ${TIMEOUT_S}s (status: ${status:-no answer}); logs in $DIR"
}

stop() {
    local pids
    pids="$(running_pids | tr '\n' ' ')"
    if [ -z "${pids// /}" ]; then
        log "no node of $DIR is running"
        return 0
    fi
    log "stopping $pids"
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while [ $SECONDS -lt $deadline ] && [ -n "$(running_pids)" ]; do sleep 0.5; done
    pids="$(running_pids | tr '\n' ' ')"
    if [ -n "${pids// /}" ]; then
        log "SIGKILL $pids"
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
    fi
    rm -f "$DIR"/node-*.pid
}

case "$cmd" in
    build) build ;;
    start) start ;;
    stop) stop ;;
    status)
        [ -f "$DIR/cluster.env" ] && . "$DIR/cluster.env"
        echo "nodes running: $(running_pids | wc -l); health: $(health "$PORT")"
        ;;
    *) die "unknown command: $cmd (start|stop|status|build)" ;;
esac
