#!/usr/bin/env python3
"""checker's benchmarks (SPEC section 9). Prints figures; run from anywhere:

    python3 scripts/bench.py            # all benchmarks
    python3 scripts/bench.py idle http  # some of them (idle, http, nginx, history, hung, config, page,
                                        # quorum)

idle: a cron tick with nothing due, 1,000 and 10,000 jobs configured (30 days of history
      imported first): wall time (median of 30 runs) and peak resident memory.
      Targets: < 20 ms and 20 MB with 1,000 jobs; < 40 ms and 40 MB with 10,000.
http: 1,000 HTTP checks against a local server in one tick, against `curl --parallel`
      making the same 1,000 requests.  Target: checker / curl <= 1.5.
nginx: 1,000 and 10,000 HTTP checks in one tick against a real nginx started by the
      benchmark, against `curl --parallel --parallel-max 64` doing the same requests.
      Target: checker / curl <= 1.2.  (nginx: scripts/install-bench-deps.sh)
history: 1,000 minute-jobs with 2 days of results (failures in streaks), generated
      through checker's recording path by examples/gen_history.rs, plus daily rollups
      back to 90 days: `status --hours 24` and `--hours 48` (< 50 ms, < 30 MB),
      `uptime --days 90` (< 100 ms), `metrics` (no target: what /metrics and the textfile
      cost), `history --job J --limit 50` (< 20 ms), recording one
      tick's 1,000 results (< 10 ms), on disk per day (< 20 MB).
hung: 100 HTTP checks in one tick, 10 of them against listeners that accept and never
      answer, with a 2 s timeout (issue 5) and a 5 s one (SPEC section 9): the tick's wall
      time against one timeout.  Target: about one timeout, not ten.
page: the status page (issue 15) for 1,000 jobs with the history workload above (2 days of
      results, daily rollups back to 90 days, failures in streaks): `status-page --output`
      (reads the state and the rollups, draws, writes atomically): median of 15 runs, and
      the page's size.  Targets: < 100 ms and < 2 MB.
config: `validate` of configurations full of mistakes (issue 10): 1,000 and 4,000 jobs
      with a bad key each, and 40,000 unknown keys in [general]: median of 5 runs.
      Target: 4,000 bad jobs under 0.5 s, and linear in the number of problems.
quorum: a tick of 1,000 failing HTTP checks each confirmed with two peers (real `checker
      serve`s watching the same jobs, near and behind a 300 ms delay), against the same tick
      without confirmation (issue 16).  Target: no more than the tick alone plus one peer
      round trip (GET /jobs.json).
"""
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "checker")
SERVER = os.path.join(ROOT, "target", "release", "examples", "bench_server")


def build():
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "checker", "--example", "bench_server",
                    "--example", "gen_history"], cwd=ROOT, check=True)


GEN = os.path.join(ROOT, "target", "release", "examples", "gen_history")


def measure(args, runs=10, cwd=None, cpu=None):
    """Runs a command `runs` times after two warm-ups; returns (median ms, max ms, peak MB).
    With a list as `cpu`, the median CPU time (user + system, ms) is appended to it: on a
    shared machine it moves less than the wall time. The peak RSS is the largest of three
    more runs under /usr/bin/time (see `peak_rss_kib`)."""
    for _ in range(2):
        run_measured(args, cwd)
    walls, cpus = [], []
    for _ in range(runs):
        w, _, code = run_measured(args, cwd)
        assert code == 0, f"{args} exited {code}"
        walls.append(w * 1000)
        cpus.append(LAST_CPU[0] * 1000)
    if cpu is not None:
        cpu.append(statistics.median(cpus))
    rss = max(peak_rss_kib(args, cwd) for _ in range(3))
    return statistics.median(walls), max(walls), rss / 1024


def peak_rss_kib(args, cwd=None):
    """The command's peak resident memory, in KiB, as /usr/bin/time reports it. Not from
    this script's own wait4: Linux carries a child's peak RSS across exec, so a command
    started from this (large, after a benchmark has read a 4 MB state) Python process
    reads as at least its size, fork or posix_spawn alike; `time` is small and forks."""
    time_bin = "/usr/bin/time"
    if not os.path.exists(time_bin):
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "install-bench-deps.sh")], check=True)
    with tempfile.NamedTemporaryFile("r") as out:
        code = subprocess.run([time_bin, "-f", "%M", "-o", out.name, *args], cwd=cwd,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        assert code == 0, f"{args} exited {code}"
        return int(out.read().strip().splitlines()[-1])


LAST_CPU = [0.0]


def run_measured(args, cwd=None):
    """Runs a command; returns (wall seconds, peak RSS in KiB, exit status). Its CPU time
    (user + system, seconds) is left in LAST_CPU[0]. The peak RSS counts this Python
    process's size (Linux keeps a child's peak across exec): use `peak_rss_kib` for memory."""
    start = time.perf_counter()
    p = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    LAST_CPU[0] = usage.ru_utime + usage.ru_stime
    return wall, usage.ru_maxrss, os.waitstatus_to_exitcode(status)


def load():
    """The 1-minute load average, printed beside wall times: on a shared 2-core machine
    they mean little without it."""
    return f"load {os.getloadavg()[0]:.1f}"


def settings(dir, extra=""):
    with open(os.path.join(dir, "settings.toml"), "w") as f:
        f.write(f"""[general]
servername = "bench"
state_file = "state.json"
jobs_dir = "jobs"
history_dir = "history"
max_concurrency = 64
tick_deadline = "50s"
{extra}
[defaults]
notify = ["email"]
[email]
enabled = false
from = "bench@example.com"
smtp_host = "127.0.0.1"
""")
    os.makedirs(os.path.join(dir, "jobs"), exist_ok=True)


def tcp_jobs(d, n, extra=lambda i: ""):
    """`n` day jobs "job 0".."job N-1" checking the closed port 9 (each fails when run), in
    the instance in `d`; `extra(i)` adds lines to job i."""
    with open(os.path.join(d, "jobs", "jobs.toml"), "w") as f:
        for i in range(n):
            f.write(f'[[job]]\nname = "job {i}"\nkind = "tcp"\nhost = "127.0.0.1"\nport = 9\n'
                    f'frequency = "day"\ntimeout = "2s"\n{extra(i)}\n')


def history_workload(d):
    """The history workload in the instance in `d` (its 1,000 `tcp_jobs`): 2 days of results
    through the recording path and daily rollups back to 90 days (examples/gen_history.rs),
    then a day tick, which leaves the jobs' state as it would be (every job failing). Returns
    what the generator printed."""
    gen = subprocess.run([GEN, os.path.join(d, "history.db"), "--jobs", "1000", "--days", "2",
                          "--rollup-days", "90"], check=True, capture_output=True, text=True)
    subprocess.run([BIN, "-f", os.path.join(d, "settings.toml"), "-c", "day"], check=True,
                   stdout=subprocess.DEVNULL)
    return gen.stdout


def idle_tick(jobs):
    d = tempfile.mkdtemp(prefix="checker-bench-idle-")
    try:
        settings(d, 'alertcontact = "ops@example.com"\n')
        tcp_jobs(d, jobs)
        cfg = ["-f", os.path.join(d, "settings.toml")]
        # 30 days of history in the JSON Lines of earlier versions: the first tick imports it.
        hist = os.path.join(d, "history")
        os.makedirs(hist, exist_ok=True)
        now = datetime.now(timezone.utc)
        for day in range(1, 30):
            t = now - timedelta(days=day)
            with open(os.path.join(hist, t.strftime("%Y-%m-%d") + ".jsonl"), "w") as f:
                for i in range(1000):
                    f.write(json.dumps({"ts": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "job": f"job {i}", "event": "result",
                                        "ok": False, "message": "connection refused", "channel": None}) + "\n")
        # One day tick gives every job its state (and a failure each).
        subprocess.run([BIN, *cfg, "-c", "day"], check=True, stdout=subprocess.DEVNULL)
        state_kib = os.path.getsize(os.path.join(d, "state.json")) // 1024
        cpu = []
        med, mx, rss = measure([BIN, *cfg, "-c", "minute"], runs=30, cpu=cpu)
        return state_kib, med, mx, rss, cpu[0]
    finally:
        shutil.rmtree(d, ignore_errors=True)


def bench_idle():
    for jobs, t_ms, t_mb in ((1000, 20, 20), (10000, 40, 40)):
        state_kib, med, mx, rss, cpu = idle_tick(jobs)
        print(f"idle tick, {jobs:,} jobs (state {state_kib} KiB, history imported): median {med:.1f} ms, "
              f"max {mx:.1f} ms, CPU {cpu:.1f} ms, peak RSS {rss:.1f} MB  (targets: < {t_ms} ms, < {t_mb} MB; "
              f"{load()})")


def http_vs_curl(d, port, n):
    """`n` http jobs against 127.0.0.1:`port` in the instance in `d`: the medians of five
    ticks and of five `curl --parallel --parallel-max 64` fetching the same URLs, in ms."""
    with open(os.path.join(d, "jobs", "jobs.toml"), "w") as f:
        for i in range(n):
            f.write(f'[[job]]\nname = "page {i}"\nkind = "http"\nurl = "http://127.0.0.1:{port}/{i}"\n\n')
    cfg = ["-f", os.path.join(d, "settings.toml")]
    curl_args = ["curl", "--silent", "--parallel", "--parallel-max", "64", "--output", "/dev/null",
                 f"http://127.0.0.1:{port}/[0-{n - 1}]"]
    checker, curl = [], []
    for _ in range(5):
        w, _, code = run_measured(curl_args)
        assert code == 0, "curl failed"
        curl.append(w * 1000)
        w, _, code = run_measured([BIN, *cfg, "-c", "minute"])
        assert code == 0, "checker tick failed"
        checker.append(w * 1000)
    state = json.load(open(os.path.join(d, "state.json")))
    ok = sum(1 for j in state["jobs"].values() if j["status"] == "ok")
    assert ok == n, f"only {ok} of {n} checks passed"
    return statistics.median(checker), statistics.median(curl)


def bench_http():
    d = tempfile.mkdtemp(prefix="checker-bench-http-")
    port_file = os.path.join(d, "port")
    server = subprocess.Popen([SERVER, port_file], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.05)
        port = int(open(port_file).read().strip())
        settings(d)
        c, k = http_vs_curl(d, port, 1000)
        print(f"1,000 HTTP checks, one tick: checker median {c:.0f} ms (incl. state and history), "
              f"curl --parallel median {k:.0f} ms: ratio {c / k:.2f}  (target <= 1.5)")
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(d, ignore_errors=True)


class HungListener:
    """A listener on 127.0.0.1 that accepts connections and never sends a byte."""

    def __init__(self):
        import socket
        import threading
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        for c in self.held:
            c.close()
        self.sock.close()


def bench_hung():
    d = tempfile.mkdtemp(prefix="checker-bench-hung-")
    port_file = os.path.join(d, "port")
    server = subprocess.Popen([SERVER, port_file], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hung = [HungListener() for _ in range(10)]
    try:
        for _ in range(100):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.05)
        port = int(open(port_file).read().strip())
        settings(d)
        cfg = ["-f", os.path.join(d, "settings.toml")]
        for timeout in (2, 5):
            with open(os.path.join(d, "jobs", "jobs.toml"), "w") as f:
                for i, h in enumerate(hung):
                    f.write(f'[[job]]\nname = "hung {i}"\nkind = "http"\nurl = "http://127.0.0.1:{h.port}/"\n'
                            f'timeout = "{timeout}s"\n\n')
                for i in range(90):
                    f.write(f'[[job]]\nname = "fast {i}"\nkind = "http"\nurl = "http://127.0.0.1:{port}/{i}"\n'
                            f'timeout = "{timeout}s"\n\n')
            walls = []
            for _ in range(3):
                w, _, code = run_measured([BIN, *cfg, "-c", "minute"])
                assert code == 0, "checker tick failed"
                walls.append(w)
            state = json.load(open(os.path.join(d, "state.json")))
            ok = sum(1 for n, j in state["jobs"].items() if n.startswith("fast") and j["status"] == "ok")
            timed_out = sum(1 for n, j in state["jobs"].items()
                            if n.startswith("hung") and j.get("last_error") == f"timed out after {timeout}s")
            assert ok == 90 and timed_out == 10, f"{ok} fast checks passed, {timed_out} hung ones timed out"
            w = statistics.median(walls)
            print(f"100 HTTP checks, 10 never answering, timeout {timeout}s: tick median {w:.2f} s "
                  f"(max {max(walls):.2f} s) = {w / timeout:.2f} x the timeout  (target: about 1x, not 10x)")
    finally:
        for h in hung:
            h.close()
        server.kill()
        server.wait()
        shutil.rmtree(d, ignore_errors=True)


def bench_config():
    d = tempfile.mkdtemp(prefix="checker-bench-config-")
    try:
        def case(name, general_extra, jobs):
            os.makedirs(os.path.join(d, name, "jobs"), exist_ok=True)
            with open(os.path.join(d, name, "settings.toml"), "w") as f:
                f.write('[general]\nstate_file = "state.json"\n' + general_extra)
            with open(os.path.join(d, name, "jobs", "jobs.toml"), "w") as f:
                f.write(jobs)
            cfg = ["-f", os.path.join(d, name, "settings.toml"), "validate"]
            walls = []
            for _ in range(5):
                w, _, code = run_measured([BIN, *cfg])
                assert code == 2, f"{name}: validate should find the problems"
                walls.append(w * 1000)
            return statistics.median(walls)

        def bad_jobs(n):
            return "".join(f'[[job]]\nname = "j{i}"\nkind = "http"\nurl = "http://127.0.0.1/"\nurll = "x"\n\n'
                           for i in range(n))
        t1 = case("bad1000", "", bad_jobs(1000))
        t4 = case("bad4000", "", bad_jobs(4000))
        tk = case("keys40000", "".join(f"bogus{i} = 1\n" for i in range(40000)), "")
        print(f"validate with 1,000 / 4,000 jobs with a bad key each: {t1:.0f} ms / {t4:.0f} ms "
              f"(x{t4 / t1:.1f} for x4 the problems); 40,000 unknown keys: {tk:.0f} ms  "
              f"(target: 4,000 under 500 ms, linear)")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def start_nginx(d):
    """A real nginx on a free loopback port, its files in `d`; returns (process id, port)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "install-bench-deps.sh")], check=True)
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 2;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok\\n"; }}
    }}
}}
""")
    subprocess.run([nginx, "-c", conf, "-p", d, "-g", "daemon on;"], check=True)
    for _ in range(100):
        if os.path.exists(os.path.join(d, "nginx.pid")):
            break
        time.sleep(0.05)
    pid = int(open(os.path.join(d, "nginx.pid")).read().strip())
    return pid, port


def bench_nginx():
    d = tempfile.mkdtemp(prefix="checker-bench-nginx-")
    pid = None
    try:
        pid, port = start_nginx(d)
        settings(d)
        for n in (1000, 10000):
            c, k = http_vs_curl(d, port, n)
            print(f"{n:,} HTTP checks against nginx, one tick: checker median {c:.0f} ms (incl. state and history), "
                  f"curl --parallel-max 64 median {k:.0f} ms: ratio {c / k:.2f}  (target <= 1.2; {load()})")
    finally:
        if pid:
            subprocess.run(["kill", str(pid)])
        shutil.rmtree(d, ignore_errors=True)


def bench_history():
    d = tempfile.mkdtemp(prefix="checker-bench-history-")
    try:
        settings(d, 'alertcontact = "ops@example.com"\n')
        tcp_jobs(d, 1000)
        cfg = ["-f", os.path.join(d, "settings.toml")]
        for line in history_workload(d).splitlines():
            print("history workload: " + line.strip())
        for args, target in ((["status", "--hours", "24"], "< 50 ms, < 30 MB"),
                             (["status", "--hours", "48"], "< 50 ms, < 30 MB"),
                             (["status", "--hours", "48", "--json"], "< 50 ms, < 30 MB"),
                             (["uptime", "--days", "90"], "< 100 ms"),
                             (["metrics"], "no target; uptime over 4 windows, as /metrics and the textfile"),
                             (["history", "--job", "job 7", "--limit", "50"], "< 20 ms"),
                             (["history", "--limit", "50"], "< 20 ms")):
            med, mx, rss = measure([BIN, *cfg, *args], runs=15)
            print(f"{' '.join(args)}: median {med:.1f} ms, max {mx:.1f} ms, peak RSS {rss:.1f} MB  (target: {target})")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def bench_page():
    d = tempfile.mkdtemp(prefix="checker-bench-page-")
    try:
        settings(d, 'alertcontact = "ops@example.com"\n[status_page]\npath = "status.html"\ntitle = "Bench"\n')
        tcp_jobs(d, 1000, lambda i: f'group = "group {i // 100}"\n')
        cfg = ["-f", os.path.join(d, "settings.toml")]
        history_workload(d)
        out = os.path.join(d, "page.html")
        med, mx, rss = measure([BIN, *cfg, "status-page", "--output", out], runs=15)
        size = os.path.getsize(out)
        print(f"status page, 1,000 jobs x 90 days: median {med:.1f} ms, max {mx:.1f} ms, peak RSS {rss:.1f} MB, "
              f"{size / 1e6:.2f} MB  (target: < 100 ms, < 2 MB)")
    finally:
        shutil.rmtree(d, ignore_errors=True)


class SlowProxy:
    """GET /jobs.json on 127.0.0.1: waits `delay` seconds, then answers what `upstream` answers
    (a peer far away, for the round trip to show)."""

    def __init__(self, upstream, delay):
        import http.server
        import threading
        import urllib.request

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                time.sleep(delay)
                body = urllib.request.urlopen(upstream + self.path, timeout=10).read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def start_serve(d):
    """`checker serve` for the instance in `d` on a free port; returns (process, port)."""
    p = subprocess.Popen([BIN, "-f", os.path.join(d, "settings.toml"), "serve", "--listen", "127.0.0.1:0"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    return p, int(line.strip().rsplit(":", 1)[1].rstrip("/"))


def bench_quorum():
    """1,000 failing HTTP jobs confirmed with two peers (real `checker serve`s, each watching the
    same 1,000 jobs): the tick against the same tick without confirmation, and against one peer
    round trip (GET /jobs.json of 1,000 jobs), with the peers near and 300 ms away."""
    root = tempfile.mkdtemp(prefix="checker-bench-quorum-")
    port_file = os.path.join(root, "port")
    server = subprocess.Popen([SERVER, port_file], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    serves, proxies = [], []
    try:
        for _ in range(100):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.05)
        port = int(open(port_file).read().strip())

        def instance(name, confirm, peers=()):
            d = os.path.join(root, name)
            os.makedirs(d)
            settings(d, 'alertcontact = "ops@example.com"\n')
            with open(os.path.join(d, "settings.toml"), "a") as f:
                for peer, url in peers:
                    f.write(f'\n[[peers]]\nname = "{peer}"\nurl = "{url}"\nfrequency = "day"\n')
            with open(os.path.join(d, "jobs", "jobs.toml"), "w") as f:
                for i in range(1000):
                    # The page never holds the text: every check fails, so every one needs its
                    # confirmation each tick. Alerts are decided but go to no channel, so the
                    # ticks measure checks and decisions, not a backlog of deliveries.
                    f.write(f'[[job]]\nname = "page {i}"\nkind = "http"\nurl = "http://127.0.0.1:{port}/{i}"\n'
                            f'contains = "not there"\ntimeout = "5s"\nnotify = []\n{confirm}\n')
            return d

        peer_dirs = [instance(f"peer{n}", "") for n in (1, 2)]
        for d in peer_dirs:
            subprocess.run([BIN, "-f", os.path.join(d, "settings.toml"), "-c", "minute"], check=True,
                           stdout=subprocess.DEVNULL)
            serves.append(start_serve(d))
        near = [f"http://127.0.0.1:{p}/" for _, p in serves]
        for url in near:
            proxies.append(SlowProxy(url.rstrip("/"), 0.3))
        far = [f"http://127.0.0.1:{p.port}/" for p in proxies]
        alone = instance("alone", "")
        confirm = 'confirm_with = ["p1", "p2"]'
        with_near = instance("near", confirm, [("p1", near[0]), ("p2", near[1])])
        with_far = instance("far", confirm, [("p1", far[0]), ("p2", far[1])])

        def round_trip(url):
            walls = []
            for _ in range(7):
                w, _, code = run_measured(["curl", "--silent", "--fail", "--output", "/dev/null",
                                           url + "jobs.json"])
                assert code == 0, "curl of /jobs.json failed"
                walls.append(w * 1000)
            return statistics.median(walls)

        rtt_near, rtt_far = round_trip(near[0]), round_trip(far[0])
        ticks = {name: [] for name in ("alone", "near", "far")}
        cfg = lambda d: [BIN, "-f", os.path.join(d, "settings.toml"), "-c", "minute"]
        for i in range(9):
            for name, d in (("alone", alone), ("near", with_near), ("far", with_far)):
                w, _, code = run_measured(cfg(d))
                assert code == 0, f"{name} tick failed"
                if i >= 2:  # the first two queue the alerts and warm the caches
                    ticks[name].append(w * 1000)
        for name, d in (("near", with_near), ("far", with_far)):
            state = json.load(open(os.path.join(d, "state.json")))
            confirmed = sum(1 for j in state["jobs"].values()
                            if j.get("confirmation", {}).get("confirmed") is True)
            assert confirmed == 1000, f"{name}: only {confirmed} of 1000 failures confirmed"
        t = {k: statistics.median(v) for k, v in ticks.items()}
        print(f"1,000 failing HTTP checks, one tick alone: median {t['alone']:.0f} ms")
        for name, rtt in (("near", rtt_near), ("far", rtt_far)):
            extra = t[name] - t["alone"]
            print(f"  confirmed with two peers {name} (one round trip {rtt:.0f} ms): median {t[name]:.0f} ms, "
                  f"+{extra:.0f} ms over the tick alone  (target: <= one round trip, {rtt:.0f} ms)")
    finally:
        for p in proxies:
            p.close()
        for p, _ in serves:
            p.kill()
            p.wait()
        server.kill()
        server.wait()
        shutil.rmtree(root, ignore_errors=True)


BENCHES = {"idle": bench_idle, "http": bench_http, "nginx": bench_nginx, "history": bench_history,
           "hung": bench_hung, "config": bench_config, "page": bench_page,
           "quorum": bench_quorum}

if __name__ == "__main__":
    chosen = sys.argv[1:] or list(BENCHES)
    unknown = [c for c in chosen if c not in BENCHES]
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; choose from {list(BENCHES)}")
    build()
    print(f"machine: {os.cpu_count()} cores; checker {BIN}")
    for name in chosen:
        BENCHES[name]()
