#!/usr/bin/env bash
# Leak check under load: the gateway (system allocator: valgrind cannot see mimalloc) runs under
# valgrind memcheck on the epoll driver, takes a wrk load run (plain and through plugins), body-
# carrying requests, refused and hostile clients (abandoned, half-open, reset mid-body, stalled
# readers, malformed heads) and an upstream that refuses connections; it is stopped with SIGTERM
# (graceful drain), and the leak summary must show nothing lost.
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
# Port 1: nothing listens there, and no outgoing connection gets it as its source port.
REFUSED=1
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
      - paths: ["/plugins"]
        plugins:
          - name: key-auth
          - name: rate-limiting
            config: { minute: 1000000, policy: local }
          - name: correlation-id
  - name: refused
    url: http://127.0.0.1:$REFUSED
    routes:
      - paths: ["/refused"]
consumers:
  - username: loadtest
    keyauth_credentials:
      - key: leak-key
plugins:
  - name: prometheus
    config: { status_code_metrics: true, latency_metrics: true, bandwidth_metrics: true }
CONF
nginx -c "$WORK/backend.conf" & NGINX=$!
valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
    --log-file="$WORK/memcheck.log" target/debug/sluice start --config "$WORK/kong.yml" --workers 2 \
    --io-driver legacy --proxy-listen 127.0.0.1:$PROXY --admin-listen 127.0.0.1:$ADMIN \
    --client-header-timeout 2 --client-body-timeout 2 --client-send-timeout 2 >"$WORK/out.log" 2>&1 &
VG=$!
trap 'kill $NGINX 2>/dev/null || true; kill $VG 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do grep -q "proxy listening" "$WORK/out.log" 2>/dev/null && break; sleep 0.2; done
grep -q "proxy listening" "$WORK/out.log" || { cat "$WORK/out.log" >&2; echo "leakcheck: the gateway did not start under valgrind within 60 s" >&2; exit 1; }
# wrk prints "Non-2xx or 3xx responses" only when there were some.
load() {
    wrk -t1 -c20 -d"${DURATION}s" "$@" > "$WORK/wrk.txt" || true
    grep -E "requests in" "$WORK/wrk.txt" || true
    if grep -q "Non-2xx" "$WORK/wrk.txt" || ! grep -qE "^ +[1-9][0-9]* requests in" "$WORK/wrk.txt"; then
        cat "$WORK/wrk.txt" >&2; echo "leakcheck: the load run failed" >&2; exit 1
    fi
}
load "http://127.0.0.1:$PROXY/"
load -H "apikey: leak-key" "http://127.0.0.1:$PROXY/plugins"
expect() {
    local want=$1; shift
    local got; got=$(curl -s --max-time 30 -o /dev/null -w '%{http_code}' "$@" || true)
    [ "$got" = "$want" ] || { echo "leakcheck: expected $want, got $got for: $*" >&2; exit 1; }
}
for _ in 1 2 3; do
    expect 200 -d 'hello' "http://127.0.0.1:$PROXY/"
    expect 200 -H 'Transfer-Encoding: chunked' -d 'abc' "http://127.0.0.1:$PROXY/"
    expect 400 "http://127.0.0.1:$PROXY/%zz"
    expect 401 "http://127.0.0.1:$PROXY/plugins"
    expect 502 "http://127.0.0.1:$PROXY/refused"
    expect 200 "http://127.0.0.1:$ADMIN/metrics"
done
# Hostile clients: each kind a few dozen times, then a pause for the timeouts to fire.
python3 - "$PROXY" <<'PY'
import socket, struct, sys, time
port = int(sys.argv[1])
held = []
def conn():
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return s
for i in range(40):
    s = conn(); held.append(s)                                   # opened, nothing sent
    s = conn(); s.sendall(b"GET / HTTP/1.1\r\nHo"); held.append(s)  # half a head
    s = conn(); s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc")
    held.append(s)                                               # body never finished
    s = conn(); s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n"); s.shutdown(socket.SHUT_WR)
    held.append(s)                                               # half-open
    s = conn(); s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); s.close()  # reset
    s = conn(); s.sendall(b"GET / HTTP/1.1\nHost: x\r\n\r\n"); held.append(s)   # bare LF: 400
    s = conn(); s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 300); held.append(s)  # never read
time.sleep(4)
for s in held:
    s.close()
PY
expect 200 "http://127.0.0.1:$PROXY/"
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
