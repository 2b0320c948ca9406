"""What the load benchmarks share: gunicorn started as `make serve` starts it, and wrk."""
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
READY_TIMEOUT_SECONDS = 60
LATENCY_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}
# Counts the status of every answer, so that a page that fails fast is not mistaken for a fast page
# (wrk itself only counts answers outside 2xx and 3xx, and a redirect to the login page is a 302).
WRK_STATUS_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do io.write(string.format("status %d %d\\n", status, n)) end
  end
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """`gunicorn -c gunicorn.conf.py <target>` on a free port, as `make serve` runs it; `settings`
    become GUNICORN_* variables (workers=2, worker_class="sync", threads=8 ...); `cpus` ("0") pins
    the master and its workers to those cores with taskset."""

    def __init__(self, env: dict, log_path: Path, target: str = "wsgi:app", health_path: str = "/healthz",
                 label: str | None = None, cpus: str | None = None, **settings):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "GUNICORN_BIND": f"127.0.0.1:{self.port}",
                    "GUNICORN_ACCESSLOG": str(log_path.with_suffix(".access.log")),
                    **{f"GUNICORN_{name.upper()}": str(value) for name, value in settings.items()}}
        self.target, self.health_path, self.log_path = target, health_path, log_path
        self.label = label or target
        self.cpus = cpus
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "w") as log:
            command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", self.target]
            if self.cpus is not None:
                command[:0] = ["taskset", "-c", self.cpus]
            self.process = subprocess.Popen(command,
                                            cwd=PROJECT_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn ({self.label}) exited ({self.process.returncode}); see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + self.health_path, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"gunicorn ({self.label}) was not ready within {READY_TIMEOUT_SECONDS} s; see {self.log_path}")

    def worker_rss_mb(self) -> list[float]:
        """Resident memory of each worker process (the master's children), in MB."""
        pid = self.process.pid
        sizes = []
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            status = Path(f"/proc/{child}/status").read_text()
            sizes.append(int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024)
        return sizes

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # gunicorn's graceful stop: the arbiter stops its workers
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def run_wrk(url: str, connections: int, duration: int, script: Path, headers: dict | None = None,
            cpus: str | None = None) -> dict:
    """wrk (2 threads) against url: requests per second, latency percentiles in ms (p50 … p99) and
    the status of every answer (script: WRK_STATUS_SCRIPT written to a file, or a script that also
    prints `cache <X-Page-Cache> <n>` lines, counted in "cache"); `cpus` pins wrk with taskset."""
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{duration}s", "--timeout", "60s", "--latency",
               "-s", str(script), url]
    for name, value in (headers or {}).items():
        command[1:1] = ["-H", f"{name}: {value}"]
    if cpus is not None:
        command[:0] = ["taskset", "-c", cpus]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
               "requests": int(re.search(r"(\d+) requests in", output).group(1)),
               "statuses": {}, "cache": {}, "errors": "", "output": output}
    for percentile, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M):
        figures[f"p{percentile}"] = float(value) * LATENCY_UNITS[unit]
    for status, count in re.findall(r"^status (\d+) (\d+)$", output, re.M):
        figures["statuses"][int(status)] = figures["statuses"].get(int(status), 0) + int(count)
    for how, count in re.findall(r"^cache (\S+) (\d+)$", output, re.M):
        figures["cache"][how] = figures["cache"].get(how, 0) + int(count)
    errors = re.search(r"Socket errors: (.*)", output)
    figures["errors"] = errors.group(1) if errors else ""
    return figures


def wrk_version() -> str:
    output = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    found = re.search(r"wrk (\S+)", output)
    return found.group(1) if found else "unknown"
