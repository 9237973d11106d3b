"""Config files for the backend, the peers and Sluice, all generated into the run's work dir.

The peers are set up the way Sluice behaves by default, so that the comparison measures the
proxies rather than their defaults:

| behaviour                         | Sluice (default)         | nginx                              | HAProxy                    |
|-----------------------------------|--------------------------|------------------------------------|----------------------------|
| workers                           | --workers N              | worker_processes N                 | nbthread N                 |
| upstream keepalive                | 512 idle/worker, 10k req | keepalive 512; keepalive_requests  | http-reuse always          |
| client keepalive                  | 60 s, no request cap     | keepalive_timeout 60s, 1M requests | timeout http-keep-alive 60s|
| request body                      | streamed                 | buffered in memory (see below)     | (streamed by default)      |
| response body                     | streamed                 | in-memory buffers, no temp files   | (streamed)                 |
| access logs                       | none                     | access_log off                     | no log directive           |
| X-Forwarded-* / X-Real-IP         | set                      | proxy_set_header ...               | option forwardfor + set-header |

nginx request bodies: with `proxy_request_buffering off` (streaming, like Sluice) nginx 1.22
closes the client connection after every proxied upload although it answers `Connection:
keep-alive`, so upload-1m would measure reconnects and wrk would count read errors. nginx
therefore buffers request bodies (in memory: `client_body_buffer_size 2m`, never a temp file).
"""

from __future__ import annotations

import os

SMALL_BODY = "hello from the backend\n"
ROUTES_10K = 10_000
# The route the routes-10k scenario measures: in the middle of the table, not first or last.
MEASURED_ROUTE = 5_000


def route_prefix(i: int) -> str:
    """Prefix of the i-th generated route (three API versions, zero-padded service ids)."""
    return "/api/v%d/svc-%05d" % (i % 3 + 1, i)


def measured_path() -> str:
    return route_prefix(MEASURED_ROUTE) + "/items"


def write_static_files(www: str) -> None:
    """Static bodies for the 1k and 64k scenarios (nginx `return` cannot send 64 KiB)."""
    os.makedirs(www, exist_ok=True)
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/\n"
    for name, size in (("1k", 1024), ("64k", 65536)):
        with open(os.path.join(www, name), "wb") as f:
            f.write((line * (size // len(line) + 1))[:size])


def backend_nginx(work: str, port: int, workers: int, nofile: int, www: str) -> str:
    """The fast upstream: tiny `return` answers, static 1 KiB / 64 KiB files, and an upload sink.

    /upload reads the whole request body (into memory: `client_body_buffer_size 2m`) before it
    answers, as an application would: `mirror` with `mirror_request_body on` makes nginx read the
    body first (the mirror subrequest itself is an internal 204). A bare `return 200` would answer
    at once and discard the body afterwards, and an upstream that answers before it has read the
    request is an edge case proxies treat differently (nginx closes the client connection).
    """
    d = os.path.join(work, "backend")
    os.makedirs(d, exist_ok=True)
    return f"""worker_processes {workers};
worker_rlimit_nofile {nofile};
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections {nofile - 64}; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=16 inactive=600s;
    open_file_cache_valid 600s;
    default_type application/octet-stream;
    client_body_temp_path {d}/body;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=16384;
        root {www};
        location / {{ return 200 "{SMALL_BODY.rstrip()}\\n"; }}
        location = /1k {{ }}
        location = /64k {{ }}
        location = /upload {{
            client_max_body_size 2m;
            client_body_buffer_size 2m;
            mirror /_sink;
            mirror_request_body on;
            return 200 "ok\\n";
        }}
        location = /_sink {{ internal; return 204; }}
    }}
}}
"""


_NGINX_PROXY_COMMON = """            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Port $server_port;
            proxy_set_header X-Real-IP $remote_addr;
"""


def peer_nginx(
    d: str, port: int, backend_port: int, workers: int, nofile: int, routes: int
) -> str:
    """nginx as a reverse proxy (files under `d`); `routes` > 0 generates that many prefix
    locations."""
    os.makedirs(d, exist_ok=True)
    if routes:
        with open(os.path.join(d, "proxy_common.conf"), "w") as f:
            f.write(_NGINX_PROXY_COMMON)
        locations = "".join(
            "        location %s { include %s/proxy_common.conf; }\n" % (route_prefix(i), d)
            for i in range(routes)
        )
        locations += '        location / { return 404 "no route\\n"; }\n'
    else:
        locations = "        location / {\n" + _NGINX_PROXY_COMMON + "        }\n"
    return f"""worker_processes {workers};
worker_rlimit_nofile {nofile};
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections {nofile - 64}; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_max_body_size 0;
    client_body_buffer_size 2m;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    proxy_max_temp_file_size 0;
    upstream backend {{
        server 127.0.0.1:{backend_port};
        keepalive 512;
        keepalive_requests 10000;
        keepalive_timeout 60s;
    }}
    server {{
        listen 127.0.0.1:{port} reuseport backlog=16384;
{locations}    }}
}}
"""


def haproxy_maxconn(connections: int) -> int:
    """Client connections HAProxy is configured for: the scenario's plus headroom."""
    return max(4096, connections + 32)


def busy_connections_that_fit(nofile: int) -> int:
    """Most busy client connections every proxy can serve under RLIMIT_NOFILE `nofile`: each
    needs two descriptors (client side and upstream side), plus pooled upstream connections
    and connections being closed. Measured: with 20,000 descriptors nginx still logs
    "worker_connections are not enough" (and closes keepalive clients) at 9,488 busy clients,
    not at 9,000."""
    return (nofile - 2048) // 2


def nginx_fds_needed(connections: int) -> int:
    # worker_connections counts client and upstream connections alike: under load every client
    # request in flight holds an upstream connection too. Short of descriptors, nginx closes
    # idle keepalive clients ("worker_connections are not enough, reusing connections").
    return 2 * connections + 2048


def haproxy_fds_needed(connections: int) -> int:
    # HAProxy refuses to start unless RLIMIT_NOFILE >= maxsock, about 2 fds per connection
    # (client + server side) plus listeners and pollers.
    return 2 * haproxy_maxconn(connections) + 64


def peer_haproxy(
    d: str, port: int, backend_port: int, workers: int, connections: int, routes: int
) -> str:
    os.makedirs(d, exist_ok=True)
    maxconn = haproxy_maxconn(connections)
    route_rules = ""
    if routes:
        lst = os.path.join(d, "routes.lst")
        with open(lst, "w") as f:
            f.writelines(route_prefix(i) + "\n" for i in range(routes))
        route_rules = (
            f"    acl known_route path_beg -f {lst}\n"
            "    http-request deny deny_status 404 unless known_route\n"
        )
    return f"""global
    nbthread {workers}
    maxconn {maxconn}
defaults
    mode http
    maxconn {maxconn}
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
    option http-keep-alive
    option forwardfor
frontend fe
    bind 127.0.0.1:{port} backlog 16384
{route_rules}    http-request set-header X-Forwarded-Proto http
    http-request set-header X-Forwarded-Host %[req.hdr(host)]
    http-request set-header X-Forwarded-Port %[dst_port]
    http-request set-header X-Real-IP %[src]
    default_backend be
backend be
    http-reuse always
    server s1 127.0.0.1:{backend_port} pool-max-conn 512
"""


PERF_API_KEY = "perf-key-0123456789"


def sluice_kong(backend_port: int, routes: int, plugins: bool = False) -> str:
    """kong.yml: one catch-all route, or `routes` prefix routes spread over 100 services;
    `plugins` puts key-auth and rate-limiting (a limit the load never reaches) on the route."""
    url = "http://127.0.0.1:%d" % backend_port
    if plugins:
        return f"""_format_version: "3.0"
services:
  - name: backend
    url: {url}
    routes:
      - name: all
        paths: ["/"]
        strip_path: false
        plugins:
          - name: key-auth
            config:
              key_names: ["apikey"]
          - name: rate-limiting
            config:
              second: 1000000000
              policy: local
consumers:
  - username: perf
    keyauth_credentials:
      - key: {PERF_API_KEY}
"""
    if not routes:
        return f"""_format_version: "3.0"
services:
  - name: backend
    url: {url}
    routes:
      - name: all
        paths: ["/"]
        strip_path: false
"""
    out = ['_format_version: "3.0"', "services:"]
    per_service = 100
    for s in range(routes // per_service):
        out.append(f"  - name: svc-{s:03d}")
        out.append(f"    url: {url}")
        out.append("    routes:")
        for r in range(per_service):
            i = s * per_service + r
            methods = '["GET", "POST"]' if i % 2 == 0 else '["GET", "HEAD", "PUT", "DELETE"]'
            out.append(f"      - name: route-{i:05d}")
            out.append(f'        paths: ["{route_prefix(i)}"]')
            out.append(f"        methods: {methods}")
            out.append("        strip_path: false")
    return "\n".join(out) + "\n"
