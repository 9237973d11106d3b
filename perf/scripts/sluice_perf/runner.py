"""sluice-perf: Sluice vs nginx vs HAProxy in front of one nginx backend, driven by wrk.

Entry point: perf/scripts/run.sh (see perf/README.md). Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from . import configs, idle, procs, report, scenarios, wrk

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
PEERS = ["sluice", "nginx", "haproxy"]
IDLE_TARGET_MIB = 100


def log(msg: str) -> None:
    print("[sluice-perf %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="perf/scripts/run.sh",
        description="Load-test Sluice against nginx and HAProxy (and the backend directly).")
    p.add_argument("--scenarios", default="all",
                   help="comma-separated, from: %s (default: all)" % ", ".join(scenarios.ALL_NAMES))
    p.add_argument("--peers", default=",".join(PEERS),
                   help="comma-separated proxies to run: sluice,nginx,haproxy (default: all "
                        "installed). The direct (no proxy) row always runs.")
    p.add_argument("--workers", type=int, default=1,
                   help="proxy workers: Sluice --workers, nginx worker_processes, HAProxy nbthread")
    p.add_argument("--backend-workers", type=int, default=1)
    p.add_argument("--duration", type=int, default=15, help="seconds per round (default 15)")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    p.add_argument("--warmup", type=int, default=2, help="warm-up seconds per peer and scenario")
    p.add_argument("--connections", type=int, default=50,
                   help="wrk connections for scenarios that do not fix their own (default 50)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: one load core)")
    p.add_argument("--idle-connections", type=int, default=10000)
    p.add_argument("--proxy-cpus", default="0", help="taskset list for the proxies (default 0)")
    p.add_argument("--load-cpus", default="1", help="taskset list for backend + wrk (default 1)")
    p.add_argument("--sluice", default=os.environ.get("SLUICE", "target/release/sluice"),
                   help="sluice binary (default target/release/sluice, or $SLUICE)")
    p.add_argument("--build", action="store_true",
                   help="cargo build --release --bin sluice first")
    p.add_argument("--smoke", action="store_true",
                   help="every scenario once for 2 s, responses checked; exit 1 on any failure "
                        "or non-2xx, no timing assertions")
    p.add_argument("--update-results", action="store_true",
                   help="rewrite perf/RESULTS.md (and perf/RESULTS.svg) with this run")
    p.add_argument("--out", help="results directory (default perf/results/<timestamp>)")
    p.add_argument("--keep-workdir", action="store_true", help="keep generated configs and logs")
    args = p.parse_args(argv)
    if args.smoke:
        args.duration, args.rounds, args.warmup = 2, 1, 0
    if args.update_results and args.smoke:
        p.error("--update-results with --smoke: smoke numbers are not figures")
    names = scenarios.ALL_NAMES if args.scenarios == "all" else [
        s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [n for n in names if n not in scenarios.ALL_NAMES]
    if unknown:
        p.error("unknown scenario(s) %s; known: %s" % (", ".join(unknown),
                                                      ", ".join(scenarios.ALL_NAMES)))
    args.scenario_names = names
    args.peer_list = [x for x in re.split(r"[,\s]+", args.peers) if x and x != "direct"]
    bad = [x for x in args.peer_list if x not in PEERS]
    if bad:
        p.error("unknown peer(s): %s" % ", ".join(bad))
    return args


def sh(argv) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        return (out.stdout + out.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine_facts(args) -> dict:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    commit = sh(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]) or "unknown"
    if sh(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"]):
        commit += " (with uncommitted changes)"
    # nginx is always there: it is the backend.
    versions = [sh(["nginx", "-v"]).replace("nginx version: ", "") or "nginx ?"]
    if "haproxy" in args.peer_list:
        versions.append(" ".join(sh(["haproxy", "-v"]).splitlines()[0].split()[:3])
                        if shutil.which("haproxy") else "haproxy missing")
    versions.append(" ".join(sh(["wrk", "-v"]).split()[:2]))
    with open("/proc/loadavg") as f:
        loadavg = " ".join(f.read().split()[:3])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "kernel": os.uname().release,
        "commit": commit,
        "versions": versions,
        "loadavg": loadavg,
    }


def stale_binary_warning(path: str) -> str | None:
    """The binary is older than the sources it is built from (so it may not be what you test)."""
    try:
        built = os.path.getmtime(path)
    except OSError:
        return None
    newest, newest_path = 0.0, ""
    for top in ("engine/src", "router/src", "balancer/src", "plugins/src"):
        for root, _, files in os.walk(os.path.join(REPO, top)):
            for name in files:
                full = os.path.join(root, name)
                m = os.path.getmtime(full)
                if m > newest:
                    newest, newest_path = m, full
    if newest > built:
        return ("%s is older than %s: rebuild (cargo build --release --bin sluice) or pass "
                "--build" % (path, os.path.relpath(newest_path, REPO)))
    return None


def nofile_limit() -> int:
    return idle.raise_nofile(1 << 20)


class Runner:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="sluice-perf.")
        os.chmod(self.work, 0o755)  # nginx workers run as nobody and read static files here
        self.nofile = nofile_limit()
        self.failures: list[str] = []
        self.backend: procs.Proc | None = None
        self.running: list[procs.Proc] = []
        self.sluice = os.path.abspath(os.path.join(REPO, args.sluice)) \
            if not os.path.isabs(args.sluice) else args.sluice
        self.www = os.path.join(self.work, "www")
        configs.write_static_files(self.www)
        for root, dirs, files in os.walk(self.work):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
            for f in files:
                os.chmod(os.path.join(root, f), 0o644)

    # ---- processes -------------------------------------------------------------------------

    def start_backend(self) -> None:
        port = procs.free_port()
        conf = os.path.join(self.work, "backend.conf")
        with open(conf, "w") as f:
            f.write(configs.backend_nginx(self.work, port, self.args.backend_workers,
                                          self.nofile, self.www))
        self.backend = procs.Proc("backend", ["nginx", "-c", conf, "-e",
                                              os.path.join(self.work, "backend-early.log")],
                                  self.args.load_cpus, port, self.work, with_children=True)

    def start_peer(self, peer: str, sc: scenarios.Scenario, tag: str,
                   connections: int) -> procs.Proc:
        a = self.args
        port = procs.free_port()
        backend_port = self.backend.port
        if peer == "sluice":
            kong = os.path.join(self.work, "kong-%s.yml" % tag)
            with open(kong, "w") as f:
                f.write(configs.sluice_kong(backend_port, sc.routes, sc.plugins))
            argv = [self.sluice, "start", "--config", kong, "--workers", str(a.workers),
                    "--proxy-listen", "127.0.0.1:%d" % port,
                    "--admin-listen", "127.0.0.1:%d" % procs.free_port()]
            env = dict(os.environ, SLUICE_LOG="warn")
            return procs.Proc("sluice-%s" % tag, argv, a.proxy_cpus, port, self.work, env=env)
        d = os.path.join(self.work, "%s-%s" % (peer, tag))
        os.makedirs(d, exist_ok=True)
        if peer == "nginx":
            conf = os.path.join(d, "nginx.conf")
            with open(conf, "w") as f:
                f.write(configs.peer_nginx(d, port, backend_port, a.workers, self.nofile,
                                           sc.routes))
            return procs.Proc("nginx-%s" % tag, ["nginx", "-c", conf, "-e",
                                                 os.path.join(d, "early.log")],
                              a.proxy_cpus, port, d, with_children=True)
        if peer == "haproxy":
            conf = os.path.join(d, "haproxy.cfg")
            with open(conf, "w") as f:
                f.write(configs.peer_haproxy(d, port, backend_port, a.workers, connections,
                                             sc.routes))
            return procs.Proc("haproxy-%s" % tag, ["haproxy", "-f", conf, "-db"],
                              a.proxy_cpus, port, d)
        raise ValueError(peer)

    def peer_skip_reason(self, peer: str, connections: int, busy: bool) -> str | None:
        """Why `peer` cannot run with `connections` clients here (busy: requests in flight on
        all of them, rather than idle)."""
        if peer in ("nginx", "haproxy") and not shutil.which(peer):
            return "%s is not installed (perf/scripts/install-deps.sh)" % peer
        if peer == "sluice" and not os.access(self.sluice, os.X_OK):
            return "no sluice binary at %s" % self.sluice
        if peer == "nginx" and busy and configs.nginx_fds_needed(connections) > self.nofile:
            return ("nginx needs about %d descriptors for %d busy clients (worker_connections "
                    "counts client and upstream connections) and RLIMIT_NOFILE is %d: it would "
                    "close keepalive clients. Raise the hard limit (ulimit -Hn) to run it"
                    % (configs.nginx_fds_needed(connections), connections, self.nofile))
        if peer == "haproxy" and configs.haproxy_fds_needed(connections) > self.nofile:
            return ("HAProxy refuses to start with maxconn=%d when RLIMIT_NOFILE is %d (it needs "
                    "%d: two per connection); raise the hard limit (ulimit -Hn) to run it"
                    % (configs.haproxy_maxconn(connections), self.nofile,
                       configs.haproxy_fds_needed(connections)))
        return None

    def plugins_unavailable(self) -> str | None:
        """Why the plugin scenario cannot run: `sluice check` refuses its config."""
        kong = os.path.join(self.work, "kong-plugins-check.yml")
        with open(kong, "w") as f:
            f.write(configs.sluice_kong(self.backend.port, 0, plugins=True))
        try:
            out = subprocess.run([self.sluice, "check", "--config", kong], capture_output=True,
                                 text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as e:
            return "not available: sluice check failed to run (%s)" % e
        if out.returncode == 0:
            return None
        problems = [line.strip(" -") for line in (out.stdout + out.stderr).splitlines()
                    if line.startswith("  ")]
        return ("not available: plugins not implemented (`sluice check` refuses key-auth / "
                "rate-limiting: %s)" % ("; ".join(problems[:2]) or out.stderr.strip()[:300]))

    def connections(self, sc: scenarios.Scenario) -> int:
        return sc.connections or self.args.connections

    def duration(self, sc: scenarios.Scenario) -> int:
        # In smoke runs c10k gets 4 s: its ~10k connects alone can take over a second on a busy
        # machine, and a round should complete some requests to check anything.
        if self.args.smoke and self.connections(sc) > 1000:
            return max(self.args.duration, 4)
        return self.args.duration

    def busy_connections(self, sc: scenarios.Scenario) -> int:
        return min(self.connections(sc), configs.busy_connections_that_fit(self.nofile))

    def stop(self, p: procs.Proc | None) -> None:
        if p is None:
            return
        p.stop()
        if p in self.running:
            self.running.remove(p)

    def cleanup(self) -> None:
        for p in list(self.running):
            self.stop(p)
        self.stop(self.backend)
        if self.args.keep_workdir:
            log("work dir kept: %s" % self.work)
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    # ---- checks and measurements ------------------------------------------------------------

    def check_once(self, name: str, port: int, sc: scenarios.Scenario) -> str | None:
        """One request through `name` before measuring: a misconfigured peer shows up here."""
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            body = b"x" * sc.body_size if sc.body_size else None
            headers = dict(sc.headers)
            if body:
                headers["Content-Type"] = "application/octet-stream"
            conn.request(sc.method, sc.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
        except (OSError, http.client.HTTPException) as e:
            return "%s: check request failed: %s" % (name, e)
        if resp.status != 200:
            return "%s: check request got %d: %r" % (name, resp.status, data[:200])
        if sc.expect_body_len is not None and len(data) != sc.expect_body_len:
            return "%s: check request body %d bytes, expected %d" % (
                name, len(data), sc.expect_body_len)
        return None

    def measure(self, sc, peer, port, proc, script, rnd) -> dict | None:
        a = self.args
        url = "http://127.0.0.1:%d%s" % (port, sc.path)
        before = proc.cpu_ticks() if proc else 0
        backend_before = self.backend.cpu_ticks()
        try:
            res = wrk.run(a.load_cpus, a.threads, self.busy_connections(sc),
                          self.duration(sc), script, url)
        except wrk.WrkFailed as e:
            self.failures.append("%s / %s: %s" % (sc.name, peer, e))
            return None
        after = proc.cpu_ticks() if proc else 0
        backend_after = self.backend.cpu_ticks()
        requests = max(res["requests"], 1)
        row = {
            "round": rnd,
            "peer": peer,
            "rps": res["rps"],
            "requests": int(res["requests"]),
            "p50": res["p50"], "p99": res["p99"], "p999": res["p999"], "max": res["max"],
            "errors": res["errors"],
            "bad_status": res["bad_status"],
            "cpu_us_per_req": ((after - before) / procs.CLK_TCK * 1e6 / requests)
            if proc else None,
            "backend_cpu_us_per_req": (backend_after - backend_before) / procs.CLK_TCK * 1e6
            / requests,
            "rss_mib": proc.rss_kib() / 1024 if proc else None,
            "wrk": {k: res[k] for k in ("connect", "read", "write", "timeout", "status",
                                        "non2xx", "bad_statuses")},
        }
        if res["requests"] == 0:
            self.failures.append("%s / %s round %d: no request completed in %d s"
                                 % (sc.name, peer, rnd, self.duration(sc)))
        if res["errors"] or res["bad_status"]:
            self.failures.append(
                "%s / %s round %d: %d socket errors/timeouts (connect %d, read %d, write %d, "
                "timeout %d), %d non-2xx (status:count %s) of %d requests" % (
                    sc.name, peer, rnd, res["errors"], res["connect"], res["read"],
                    res["write"], res["timeout"], res["bad_status"], res["bad_statuses"],
                    res["requests"]))
        if proc and not proc.alive():
            self.failures.append("%s / %s: the proxy exited during the round; stderr: %s"
                                 % (sc.name, peer, proc.stderr_tail()))
        return row

    def run_scenario(self, sc: scenarios.Scenario) -> dict:
        a = self.args
        result = {"name": sc.name, "description": sc.description, "rounds": [], "skipped": {}}
        unavailable = sc.unavailable or (self.plugins_unavailable() if sc.plugins else None)
        if unavailable:
            result["unavailable"] = unavailable
            log("%s: %s" % (sc.name, unavailable))
            return result
        conns = self.connections(sc)
        fit = configs.busy_connections_that_fit(self.nofile)
        if conns > fit:
            result["note"] = (
                "ran with %s connections instead of %s: RLIMIT_NOFILE is %d and every proxy "
                "needs two descriptors per busy client (client + upstream side) plus its idle "
                "upstream pool; raise the hard "
                "limit (ulimit -Hn) to %d or more for the full count" % (
                    "{:,}".format(fit), "{:,}".format(conns), self.nofile, 2 * conns + 2048))
            log("%s: %s" % (sc.name, result["note"]))
            conns = fit
        log("%s: %s (%d connections)" % (sc.name, sc.description, conns))
        script = wrk.write_script(os.path.join(self.work, "wrk-%s.lua" % sc.name), sc.method,
                                  sc.body_size, sc.headers, check_status=a.smoke)
        result["wrk"] = "wrk -t%d -c%d -d%ds --timeout 10s -s <%s.lua> http://127.0.0.1:PORT%s" % (
            max(1, min(a.threads, conns)), conns, self.duration(sc), sc.name, sc.path)
        targets: dict[str, tuple[int, procs.Proc | None]] = {"direct": (self.backend.port, None)}
        started = []
        try:
            for peer in a.peer_list:
                if sc.plugins and peer != "sluice":
                    result["skipped"][peer] = ("no equivalent key-auth + rate-limiting setup; "
                                               "compare with Sluice's own `small` row")
                    continue
                reason = self.peer_skip_reason(peer, conns, busy=True)
                if reason:
                    result["skipped"][peer] = reason
                    log("%s: %s skipped: %s" % (sc.name, peer, reason))
                    continue
                try:
                    p = self.start_peer(peer, sc, sc.name, conns)
                except procs.StartFailed as e:
                    self.failures.append("%s: %s" % (sc.name, e))
                    result["skipped"][peer] = "failed to start (see Failures)"
                    continue
                self.running.append(p)
                started.append(p)
                targets[peer] = (p.port, p)
            for name, (port, _) in list(targets.items()):
                problem = self.check_once(name, port, sc)
                if problem:
                    self.failures.append("%s: %s" % (sc.name, problem))
                    result["skipped"][name] = "check request failed (see Failures)"
                    del targets[name]
            if a.warmup:
                for name, (port, p) in targets.items():
                    try:
                        wrk.run(a.load_cpus, a.threads, conns, a.warmup, script,
                                "http://127.0.0.1:%d%s" % (port, sc.path))
                    except wrk.WrkFailed as e:
                        self.failures.append("%s / %s warm-up: %s" % (sc.name, name, e))
            order = list(targets)
            if not order:
                return result
            for rnd in range(1, a.rounds + 1):
                # Rotate the order each round so that drift spreads over all peers.
                k = (rnd - 1) % len(order)
                for name in order[k:] + order[:k]:
                    port, p = targets[name]
                    # Let the previous run's connections close before the next one starts.
                    time.sleep(1.0 if conns > 1000 else 0.2)
                    row = self.measure(sc, name, port, p, script, rnd)
                    if row:
                        result["rounds"].append(row)
                        log("  round %d %-8s %10.0f req/s  p99 %s  cpu %s us/req  rss %s MiB%s" % (
                            rnd, name, row["rps"], report.fmt_us(row["p99"]),
                            report.fmt_num(row["cpu_us_per_req"]),
                            report.fmt_num(row["rss_mib"]),
                            "  ERRORS %d, non-2xx %d" % (row["errors"], row["bad_status"])
                            if row["errors"] or row["bad_status"] else ""))
        finally:
            for p in started:
                self.stop(p)
        return result

    def run_idle(self) -> dict:
        a = self.args
        n = a.idle_connections
        sc = scenarios.BY_NAME["small"]
        out = {"connections": n, "target_mib": IDLE_TARGET_MIB, "peers": {}}
        idle.raise_nofile(n + 1024)
        log("%s: %d idle keepalive connections per proxy" % (scenarios.IDLE, n))
        for peer in a.peer_list:
            reason = self.peer_skip_reason(peer, n, busy=False)
            if reason:
                out["peers"][peer] = {"skipped": reason}
                continue
            try:
                p = self.start_peer(peer, sc, scenarios.IDLE, n)
            except procs.StartFailed as e:
                self.failures.append("%s: %s" % (scenarios.IDLE, e))
                out["peers"][peer] = {"skipped": "failed to start"}
                continue
            self.running.append(p)
            clients = idle.IdleClients(p.port)
            try:
                problem = self.check_once(peer, p.port, sc)
                if problem:
                    self.failures.append("%s: %s" % (scenarios.IDLE, problem))
                time.sleep(0.5)
                rss0 = p.rss_kib()
                t0 = time.monotonic()
                opened = clients.open_connections(n)
                took = time.monotonic() - t0
                time.sleep(1.0)
                rss1 = p.rss_kib()
                still = clients.still_open()
                r = {"rss0_kib": rss0, "rss1_kib": rss1, "opened": opened,
                     "still_open": still, "open_seconds": took,
                     "per_conn_kib": (rss1 - rss0) / max(opened, 1),
                     "client_failures": clients.failures[:10]}
                if opened < n or still < opened:
                    self.failures.append("%s / %s: %d of %d connections completed a request, %d "
                                         "still open; first problems: %s" % (
                                             scenarios.IDLE, peer, opened, n, still,
                                             "; ".join(clients.failures[:5])))
                if peer == "sluice":
                    ok = rss1 / 1024 < IDLE_TARGET_MIB
                    r["verdict"] = ("within target (< %d MiB)" if ok else
                                    "OVER target (%d MiB)") % IDLE_TARGET_MIB
                out["peers"][peer] = r
                log("  %-8s RSS %.1f MiB -> %.1f MiB with %d idle connections (%.1f KiB each)"
                    % (peer, rss0 / 1024, rss1 / 1024, still, r["per_conn_kib"]))
                if not p.alive():
                    self.failures.append("%s / %s: the proxy exited" % (scenarios.IDLE, peer))
            finally:
                clients.close()
                self.stop(p)
        return out


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.chdir(REPO)
    if args.build:
        log("cargo build --release --bin sluice")
        if subprocess.run(["cargo", "build", "--release", "--bin", "sluice"]).returncode != 0:
            log("build failed")
            return 1
    missing = [t for t in ("wrk", "nginx", "taskset") if not shutil.which(t)]
    if missing:
        log("missing %s: run perf/scripts/install-deps.sh" % ", ".join(missing))
        return 1
    if not os.access(args.sluice if os.path.isabs(args.sluice) else os.path.join(REPO, args.sluice),
                     os.X_OK):
        log("no sluice binary at %s: cargo build --release --bin sluice (or --build)"
            % args.sluice)
        return 1
    for peer in list(args.peer_list):
        if peer != "sluice" and not shutil.which(peer):
            log("%s not installed: skipped (perf/scripts/install-deps.sh installs it)" % peer)
    ncpu = os.cpu_count() or 1
    if ncpu < 2 and args.proxy_cpus == "0" and args.load_cpus == "1":
        args.load_cpus = "0"
        log("one CPU only: proxy, backend and wrk share CPU 0")

    now = datetime.datetime.now(datetime.timezone.utc)
    stamp = now.strftime("%Y%m%dT%H%M%SZ") + ("-smoke" if args.smoke else "")
    out_dir = args.out or os.path.join(REPO, "perf", "results", stamp)
    os.makedirs(out_dir, exist_ok=True)

    runner = Runner(args)
    meta = machine_facts(args)
    meta.update({
        "timestamp": now.strftime("%Y-%m-%d %H:%M:%S"),
        "smoke": args.smoke,
        "sluice": os.path.relpath(runner.sluice, REPO),
        "sluice_mtime": datetime.datetime.fromtimestamp(
            os.path.getmtime(runner.sluice), datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "stale_binary": stale_binary_warning(runner.sluice),
        "proxy_cpus": args.proxy_cpus, "load_cpus": args.load_cpus,
        "workers": args.workers, "backend_workers": args.backend_workers,
        "threads": args.threads, "duration": args.duration, "rounds": args.rounds,
        "warmup": args.warmup, "connections": args.connections,
        "nofile": runner.nofile, "scenarios": args.scenario_names,
    })
    if meta["stale_binary"]:
        log("warning: " + meta["stale_binary"])
    if runner.nofile < 22048:
        log("note: RLIMIT_NOFILE is %d; a full c10k needs 22,048 (it runs with fewer "
            "connections), idle-10k about 20,300 for HAProxy" % runner.nofile)

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt  # stop the proxies (own sessions) and write what we have
    signal.signal(signal.SIGTERM, on_sigterm)
    results = {"meta": meta, "scenarios": [], "idle": None, "failures": runner.failures}
    started = time.monotonic()
    try:
        try:
            runner.start_backend()
        except procs.StartFailed as e:
            runner.failures.append(str(e))
            log("backend failed to start: %s" % e)
            return 1
        for name in args.scenario_names:
            if name == scenarios.IDLE:
                results["idle"] = runner.run_idle()
            else:
                try:
                    results["scenarios"].append(runner.run_scenario(scenarios.BY_NAME[name]))
                except Exception as e:  # a harness bug must not lose the other scenarios
                    runner.failures.append("%s: harness error %s: %s"
                                           % (name, type(e).__name__, e))
                    log("%s: harness error: %r" % (name, e))
            if not runner.backend.alive():
                runner.failures.append("the backend exited; stderr: %s"
                                       % runner.backend.stderr_tail())
                break
    except KeyboardInterrupt:
        runner.failures.append("interrupted")
    finally:
        runner.cleanup()
        meta["elapsed_s"] = round(time.monotonic() - started, 1)
        md = report.markdown(results)
        with open(os.path.join(out_dir, "report.md"), "w") as f:
            f.write(md)
        with open(os.path.join(out_dir, "chart.svg"), "w") as f:
            f.write(report.chart(results))
        with open(os.path.join(out_dir, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
        print(md)
        log("report: %s (%.0f s)" % (os.path.relpath(out_dir, REPO), meta["elapsed_s"]))
    if args.update_results:
        update_results(results, out_dir)
    if runner.failures:
        log("%d failure(s):" % len(runner.failures))
        for f in runner.failures:
            log("  " + f)
        return 1
    return 0


def update_results(results: dict, out_dir: str) -> None:
    perf = os.path.join(REPO, "perf")
    shutil.copyfile(os.path.join(out_dir, "chart.svg"), os.path.join(perf, "RESULTS.svg"))
    md = report.markdown(results)
    body = md.split("\n", 1)[1]
    text = ("# Sluice performance results\n\n"
            "Written by `perf/scripts/run.sh --update-results` (see perf/README.md for what each "
            "figure means). Re-run on a quiet machine to refresh; numbers from a machine where "
            "anything else was running are not comparable.\n\n"
            "![throughput and p99 per peer and scenario](RESULTS.svg)\n" + body)
    with open(os.path.join(perf, "RESULTS.md"), "w") as f:
        f.write(text)
    log("perf/RESULTS.md and perf/RESULTS.svg updated")
