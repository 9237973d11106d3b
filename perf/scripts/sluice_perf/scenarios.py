"""The named scenarios. Each is one wrk shape against one backend location."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import configs


@dataclass
class Scenario:
    name: str
    description: str
    path: str = "/"
    method: str = "GET"
    body_size: int = 0
    headers: dict = field(default_factory=dict)
    # None: use --connections.
    connections: int | None = None
    # Routes in the generated configs (0: one catch-all route).
    routes: int = 0
    # Body the backend answers with, to check the first response through each proxy.
    expect_body_len: int | None = None
    # Sluice gets key-auth + rate-limiting plugins; peers have no equivalent here.
    plugins: bool = False
    # Set when the scenario cannot run at all; the report prints it.
    unavailable: str | None = None


SCENARIOS = [
    Scenario("small", "GET, keepalive, %d-byte body" % len(configs.SMALL_BODY),
             expect_body_len=len(configs.SMALL_BODY)),
    Scenario("1k", "GET, keepalive, 1 KiB static body", path="/1k", expect_body_len=1024),
    Scenario("64k", "GET, keepalive, 64 KiB static body", path="/64k", expect_body_len=65536),
    Scenario("upload-1m", "POST 1 MiB body (Content-Length), keepalive; backend discards it",
             path="/upload", method="POST", body_size=1 << 20, expect_body_len=3),
    Scenario("new-conn", "GET with `Connection: close`: one TCP connection per request",
             headers={"Connection": "close"}, expect_body_len=len(configs.SMALL_BODY)),
    Scenario("c1k", "GET, 1,000 concurrent keepalive connections", connections=1000,
             expect_body_len=len(configs.SMALL_BODY)),
    Scenario("c10k", "GET, 10,000 concurrent keepalive connections", connections=10000,
             expect_body_len=len(configs.SMALL_BODY)),
    Scenario("routes-10k", "GET on one route of a 10,000-route config",
             path=configs.measured_path(), routes=configs.ROUTES_10K,
             expect_body_len=len(configs.SMALL_BODY)),
    # Runs only when `sluice check` accepts the plugin config; until then the report says
    # "not available: plugins not implemented". Sluice only: compare with its `small` row.
    Scenario("key-auth-rate-limit",
             "GET, keepalive, key-auth + rate-limiting (limit never reached) on the route",
             headers={"apikey": configs.PERF_API_KEY}, plugins=True,
             expect_body_len=len(configs.SMALL_BODY)),
]

BY_NAME = {s.name: s for s in SCENARIOS}
# Not a wrk scenario: the idle keepalive connection memory measurement (idle.py).
IDLE = "idle-10k"
ALL_NAMES = [s.name for s in SCENARIOS] + [IDLE]
