"""Markdown report, ratios and the chart from one run's results (a JSON-able dict)."""

from __future__ import annotations

import statistics

from . import svg

PEER_ORDER = ["direct", "sluice", "nginx", "haproxy"]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_rps(v):
    return "-" if v is None else "{:,.0f}".format(v)


def fmt_us(v):
    if v is None:
        return "-"
    return "%.0f us" % v if v < 1000 else "%.2f ms" % (v / 1000)


def fmt_num(v, digits=1):
    return "-" if v is None else "%.*f" % (digits, v)


def fmt_ratio(v):
    return "-" if v is None else "%.2f" % v


def peer_rounds(scenario: dict, peer: str) -> list[dict]:
    return [r for r in scenario["rounds"] if r["peer"] == peer]


def summarize(scenario: dict) -> dict:
    """Per peer: the median of each figure over the rounds."""
    out = {}
    for peer in PEER_ORDER:
        rounds = peer_rounds(scenario, peer)
        if not rounds:
            continue
        out[peer] = {
            "rounds": len(rounds),
            "rps": median([r["rps"] for r in rounds]),
            "p50": median([r["p50"] for r in rounds]),
            "p99": median([r["p99"] for r in rounds]),
            "p999": median([r["p999"] for r in rounds]),
            "cpu": median([r["cpu_us_per_req"] for r in rounds]),
            "backend_cpu": median([r["backend_cpu_us_per_req"] for r in rounds]),
            "rss": max((r["rss_mib"] or 0) for r in rounds) if peer != "direct" else None,
            "errors": sum(r["errors"] for r in rounds),
            "bad_status": sum(r["bad_status"] for r in rounds),
        }
    return out


def ratios(scenario: dict) -> dict:
    """Sluice against each other peer, pair by pair within a round, then the median over rounds.

    req/s: sluice / peer (> 1: Sluice faster). p99 and CPU/request: sluice / peer (< 1: Sluice
    better)."""
    out = {}
    by_round: dict[int, dict[str, dict]] = {}
    for r in scenario["rounds"]:
        by_round.setdefault(r["round"], {})[r["peer"]] = r
    for peer in PEER_ORDER:
        if peer == "sluice":
            continue
        per_round = []
        for rnd in sorted(by_round):
            pair = by_round[rnd]
            if "sluice" in pair and peer in pair:
                s, p = pair["sluice"], pair[peer]
                per_round.append({
                    "round": rnd,
                    "rps": s["rps"] / p["rps"] if p["rps"] else None,
                    "p99": s["p99"] / p["p99"] if p["p99"] else None,
                    "cpu": (s["cpu_us_per_req"] / p["cpu_us_per_req"]
                            if p["cpu_us_per_req"] else None),
                })
        if per_round:
            out[peer] = {
                "per_round": per_round,
                "rps": median([x["rps"] for x in per_round]),
                "p99": median([x["p99"] for x in per_round]),
                "cpu": median([x["cpu"] for x in per_round]),
            }
    return out


def markdown(results: dict) -> str:
    meta = results["meta"]
    lines = []
    title = "Sluice load test"
    if meta["smoke"]:
        title += " (SMOKE RUN: checks that everything starts and answers; not figures)"
    lines += ["# " + title, ""]
    lines += [
        "| | |", "|---|---|",
        "| date (UTC) | %s |" % meta["timestamp"],
        "| machine | %s cores, %s |" % (meta["nproc"], meta["cpu_model"]),
        "| kernel | %s |" % meta["kernel"],
        "| commit | %s |" % meta["commit"],
        "| sluice binary | %s (built %s) |" % (meta["sluice"], meta["sluice_mtime"]),
        "| peers | %s |" % ", ".join(meta["versions"]),
        "| layout | proxy pinned to CPU %s; backend (nginx, %d worker) + wrk on CPU %s |"
        % (meta["proxy_cpus"], meta["backend_workers"], meta["load_cpus"]),
        "| proxy workers | %d (Sluice --workers, nginx worker_processes, HAProxy nbthread) |"
        % meta["workers"],
        "| load | wrk -t%d, %d s per round, %d round(s), %s s warm-up, default %d connections |"
        % (meta["threads"], meta["duration"], meta["rounds"], meta["warmup"],
           meta["connections"]),
        "| load average at start | %s |" % meta["loadavg"],
        "",
    ]
    lines += [
        "Setup: one nginx backend (tiny `return`, static 1 KiB / 64 KiB files, an /upload sink "
        "that reads the whole body before answering). Peers are configured like Sluice's "
        "defaults: same worker count, upstream keepalive (512 idle connections per worker, "
        "10,000 requests per connection), 60 s client keepalive, no access logs, "
        "X-Forwarded-* headers set. nginx buffers request bodies in memory (with "
        "`proxy_request_buffering off` nginx 1.22 closes the client connection after each "
        "upload). Generated configs: perf/scripts/sluice_perf/configs.py.",
        "",
    ]
    if meta.get("stale_binary"):
        lines += ["> **Warning:** %s" % meta["stale_binary"], ""]

    lines += ["## Results (median over rounds)", "",
              "CPU us/req: CPU time (user + system, all threads; nginx master + workers) the "
              "proxy spent per completed request. RSS: resident memory of the proxy at the end "
              "of the round (largest over rounds). Errors: wrk socket errors + timeouts; "
              "bad status: non-2xx answers.", ""]
    for sc in results["scenarios"]:
        lines.append("### %s: %s" % (sc["name"], sc["description"]))
        lines.append("")
        if sc.get("unavailable"):
            lines += ["*%s*" % sc["unavailable"], ""]
            continue
        if sc.get("wrk"):
            lines += ["`%s`" % sc["wrk"], ""]
        if sc.get("note"):
            lines += ["> **Note:** " + sc["note"], ""]
        summary = summarize(sc)
        lines.append("| peer | req/s | p50 | p99 | p99.9 | CPU us/req | backend CPU us/req "
                     "| RSS MiB | errors | bad status |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for peer, s in summary.items():
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %d | %d |" % (
                peer, fmt_rps(s["rps"]), fmt_us(s["p50"]), fmt_us(s["p99"]), fmt_us(s["p999"]),
                fmt_num(s["cpu"]), fmt_num(s["backend_cpu"]), fmt_num(s["rss"]),
                s["errors"], s["bad_status"]))
        for peer, reason in sc.get("skipped", {}).items():
            lines.append("| %s | not run: %s | | | | | | | | |" % (peer, reason))
        lines.append("")
        rat = ratios(sc)
        if rat:
            lines.append("Sluice vs peer (per-round ratio, median over rounds; per round in "
                         "brackets): req/s > 1 and p99, CPU/req < 1 favour Sluice.")
            lines.append("")
            lines.append("| sluice vs | req/s ratio | p99 ratio | CPU/req ratio |")
            lines.append("|---|---|---|---|")
            for peer, r in rat.items():
                def per_round(key, r=r):
                    if len(r["per_round"]) < 2:
                        return ""
                    return " (%s)" % ", ".join(fmt_ratio(x[key]) for x in r["per_round"])
                lines.append("| %s | %s%s | %s%s | %s%s |" % (
                    peer, fmt_ratio(r["rps"]), per_round("rps"), fmt_ratio(r["p99"]),
                    per_round("p99"), fmt_ratio(r["cpu"]), per_round("cpu")))
            lines.append("")

    idle = results.get("idle")
    if idle:
        lines += ["## Idle keepalive connections", "",
                  "%d client connections opened in waves (Python, non-blocking sockets), one "
                  "GET each, then left idle; RSS of the proxy before and after. Target for "
                  "Sluice: under %d MiB with %d connections." % (
                      idle["connections"], idle["target_mib"], idle["connections"]), "",
                  "| peer | RSS, 0 connections (MiB) | RSS, idle connections (MiB) "
                  "| per connection (KiB) | connections open | verdict |",
                  "|---|---|---|---|---|---|"]
        for peer, r in idle["peers"].items():
            if "skipped" in r:
                lines.append("| %s | not run: %s | | | | |" % (peer, r["skipped"]))
                continue
            lines.append("| %s | %.1f | %.1f | %.1f | %d / %d | %s |" % (
                peer, r["rss0_kib"] / 1024, r["rss1_kib"] / 1024, r["per_conn_kib"],
                r["still_open"], idle["connections"], r.get("verdict", "")))
        lines.append("")

    if results.get("failures"):
        lines += ["## Failures", ""] + ["- " + f for f in results["failures"]] + [""]

    lines += ["## Per-round data", "",
              "| scenario | round | peer | req/s | p50 | p99 | p99.9 | CPU us/req | RSS MiB "
              "| requests | errors | bad status |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for sc in results["scenarios"]:
        for r in sc.get("rounds", []):
            lines.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %d | %d | %d |" % (
                sc["name"], r["round"], r["peer"], fmt_rps(r["rps"]), fmt_us(r["p50"]),
                fmt_us(r["p99"]), fmt_us(r["p999"]), fmt_num(r["cpu_us_per_req"]),
                fmt_num(r["rss_mib"]), r["requests"], r["errors"], r["bad_status"]))
    lines.append("")
    return "\n".join(lines)


def chart(results: dict) -> str:
    rows = []
    for sc in results["scenarios"]:
        if sc.get("unavailable") or not sc.get("rounds"):
            continue
        rows.append((sc["name"], [(peer, s["rps"] or 0, s["p99"] or 0)
                                  for peer, s in summarize(sc).items()]))
    meta = results["meta"]
    title = "Sluice vs peers, %s, commit %s%s" % (
        meta["timestamp"], meta["commit"], " (SMOKE: not figures)" if meta["smoke"] else "")
    return svg.chart(rows, title)
