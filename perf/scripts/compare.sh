#!/usr/bin/env bash
# Side-by-side proxy comparison on one machine: Sluice vs nginx vs HAProxy (1 worker each),
# all in front of the same nginx backend, driven by wrk. The proxy under test is pinned to
# CPU 0; the backend and wrk share CPU 1. Rounds alternate between proxies so drift (thermal,
# noisy neighbours) spreads evenly.
#
#   perf/scripts/compare.sh [--duration 10] [--connections 50] [--rounds 2] [--smoke]
#
# Needs: wrk, nginx, haproxy (apt), python3, and target/release/sluice (cargo build --release).
# Prints a Markdown table: req/s, latency p50/p99, proxy CPU microseconds per request, proxy RSS.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=10
CONNECTIONS=50
ROUNDS=2
PEERS="direct sluice nginx haproxy"
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=$2; shift 2 ;;
        --connections) CONNECTIONS=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --peers) PEERS=$2; shift 2 ;;
        --smoke) DURATION=2; ROUNDS=1; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

SLUICE=${SLUICE:-target/release/sluice}
[ -x "$SLUICE" ] || { echo "build first: cargo build --release --bin sluice" >&2; exit 1; }
for tool in wrk python3; do command -v $tool >/dev/null || { echo "missing $tool" >&2; exit 1; }; done
command -v nginx >/dev/null || PEERS=${PEERS//nginx/}
command -v haproxy >/dev/null || PEERS=${PEERS//haproxy/}
command -v nginx >/dev/null || { echo "missing nginx (backend)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/sluice-perf.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.2; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
BACKEND_PORT=$(free_port); SLUICE_PORT=$(free_port); SLUICE_ADMIN=$(free_port)
NGINX_PORT=$(free_port); HAPROXY_PORT=$(free_port)

mkdir -p "$WORK/backend" "$WORK/nginx"
cat > "$WORK/backend/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/backend/nginx.pid;
error_log $WORK/backend/error.log crit;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$BACKEND_PORT reuseport backlog=4096;
        location / { return 200 "hello from the backend\n"; }
    }
}
CONF
cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log crit;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 512; }
    server {
        listen 127.0.0.1:$NGINX_PORT reuseport backlog=4096;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Real-IP \$remote_addr;
        }
    }
}
CONF
cat > "$WORK/haproxy.cfg" <<CONF
global
    nbthread 1
    maxconn 8000
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    option http-keep-alive
    option forwardfor
frontend fe
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend be
backend be
    http-reuse always
    server s1 127.0.0.1:$BACKEND_PORT
CONF
cat > "$WORK/kong.yml" <<CONF
_format_version: "3.0"
services:
  - name: backend
    url: http://127.0.0.1:$BACKEND_PORT
    routes:
      - name: all
        paths: ["/"]
CONF

taskset -c 1 nginx -c "$WORK/backend/nginx.conf" -e "$WORK/backend/error.log" & PIDS+=($!)
sleep 0.3

declare -A PROXY_PID PROXY_PORT
start_proxy() {
    case "$1" in
        direct) PROXY_PORT[direct]=$BACKEND_PORT; PROXY_PID[direct]="" ;;
        sluice)
            taskset -c 0 "$SLUICE" start --config "$WORK/kong.yml" --workers 1 \
                --proxy-listen 127.0.0.1:$SLUICE_PORT --admin-listen 127.0.0.1:$SLUICE_ADMIN \
                >"$WORK/sluice.out" 2>"$WORK/sluice.err" & PROXY_PID[sluice]=$!; PIDS+=($!)
            PROXY_PORT[sluice]=$SLUICE_PORT ;;
        nginx)
            taskset -c 0 nginx -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" & PIDS+=($!)
            sleep 0.3
            # The master only supervises; the single worker does the proxying.
            PROXY_PID[nginx]=$(pgrep -P $! | head -1); PROXY_PORT[nginx]=$NGINX_PORT ;;
        haproxy)
            taskset -c 0 haproxy -f "$WORK/haproxy.cfg" -db & PROXY_PID[haproxy]=$!; PIDS+=($!)
            PROXY_PORT[haproxy]=$HAPROXY_PORT ;;
    esac
}
for peer in $PEERS; do start_proxy "$peer"; done
sleep 0.5

cpu_ticks() { [ -z "$1" ] && { echo 0; return; }; awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kib() { [ -z "$1" ] && { echo 0; return; }; awk '/VmRSS/{print $2}' "/proc/$1/status"; }
HZ=$(getconf CLK_TCK)

echo "| round | peer | req/s | p50 | p99 | CPU us/req | RSS MiB |" > "$WORK/rows.md"
for round in $(seq 1 "$ROUNDS"); do
    for peer in $PEERS; do
        pid=${PROXY_PID[$peer]}
        port=${PROXY_PORT[$peer]}
        curl -fsS "http://127.0.0.1:$port/" >/dev/null
        before=$(cpu_ticks "$pid")
        out=$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$port/")
        after=$(cpu_ticks "$pid")
        rss=$(rss_kib "$pid")
        python3 - "$round" "$peer" "$before" "$after" "$HZ" "$rss" <<PY >> "$WORK/rows.md"
import re, sys
out = """$out"""
round_, peer, before, after, hz, rss = sys.argv[1:]
def latency(label):
    m = re.search(r"^\s*%s%%\s+([\d.]+)(us|ms|s)" % label, out, re.M)
    if not m: return "-"
    return m.group(1) + m.group(2)
total = int(re.search(r"(\d+) requests in", out).group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
cpu_us = (int(after) - int(before)) / int(hz) * 1e6 / max(total, 1) if peer != "direct" else 0
note = " (%s non-2xx)" % errors.group(1) if errors else ""
print("| %s | %s%s | %.0f | %s | %s | %s | %s |" % (round_, peer, note, rps, latency("50"), latency("99"),
      "%.1f" % cpu_us if peer != "direct" else "-", "%.1f" % (int(rss) / 1024) if peer != "direct" else "-"))
PY
    done
done
echo "machine: $(nproc) cores, kernel $(uname -r), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "wrk -t1 -c$CONNECTIONS -d${DURATION}s, proxy pinned to CPU 0, backend + wrk on CPU 1"
echo
cat "$WORK/rows.md" | sed '1a|---|---|---|---|---|---|---|'
