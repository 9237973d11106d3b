#!/usr/bin/env bash
# Leak check under load: the gateway (system allocator: valgrind cannot see mimalloc) runs under
# valgrind memcheck on the epoll driver, takes a wrk load run plus a few body-carrying requests,
# is stopped with SIGTERM (graceful drain), and the leak summary must show nothing lost.
#
#   perf/scripts/leakcheck.sh [--duration 10]
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=10
[ "${1:-}" = "--duration" ] && DURATION=$2
for tool in valgrind wrk nginx curl python3; do command -v $tool >/dev/null || { echo "missing $tool" >&2; exit 1; }; done
cargo build -p sluice-engine --bin sluice --no-default-features 2>&1 | tail -1

WORK=$(mktemp -d /tmp/sluice-leak.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
BACKEND=$(free_port); PROXY=$(free_port); ADMIN=$(free_port)
cat > "$WORK/backend.conf" <<CONF
worker_processes 1; daemon off; pid $WORK/nginx.pid; error_log $WORK/error.log crit;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:$BACKEND; client_max_body_size 1m;
  location / { return 200 "ok\n"; } } }
CONF
cat > "$WORK/kong.yml" <<CONF
_format_version: "3.0"
services:
  - name: backend
    url: http://127.0.0.1:$BACKEND
    routes:
      - paths: ["/"]
CONF
nginx -c "$WORK/backend.conf" & NGINX=$!
valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
    --log-file="$WORK/memcheck.log" target/debug/sluice start --config "$WORK/kong.yml" --workers 2 \
    --io-driver legacy --proxy-listen 127.0.0.1:$PROXY --admin-listen 127.0.0.1:$ADMIN >"$WORK/out.log" 2>&1 &
VG=$!
trap 'kill $NGINX 2>/dev/null || true; kill $VG 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q "proxy listening" "$WORK/out.log" 2>/dev/null && break; sleep 0.2; done
wrk -t1 -c20 -d"${DURATION}s" "http://127.0.0.1:$PROXY/" | grep -E "requests in"
for _ in 1 2 3; do
    curl -s -o /dev/null -d 'hello' "http://127.0.0.1:$PROXY/"
    curl -s -o /dev/null -H 'Transfer-Encoding: chunked' -d 'abc' "http://127.0.0.1:$PROXY/"
    curl -s -o /dev/null "http://127.0.0.1:$PROXY/%zz"
done
kill -TERM $VG
wait $VG || true
grep -E "total heap usage|definitely lost|indirectly lost|ERROR SUMMARY|All heap blocks" "$WORK/memcheck.log"
if grep -qE "ERROR SUMMARY: 0 errors" "$WORK/memcheck.log"; then
    echo "leakcheck: no leaks"
    rm -rf "$WORK"
else
    echo "leakcheck: leaks or errors, see $WORK/memcheck.log" >&2
    exit 1
fi
