#!/usr/bin/env python3
"""Live views of a real run, checked by independent clients.

Runs `fleetbench run` (embedded gateway and fleet, loopback only) with --metrics-addr and
--dashboard on port 0, then:
  * scrapes /metrics during the run and parses it with prometheus_client's text parser:
    counters never go down, and at the end they equal summary.json's totals;
  * (unless --no-browser) drives headless Chromium (Debian's chromium + chromium-driver,
    through Selenium): the dashboard receives >= 3 updates, its charts carry data, a series
    toggle hides its line; screenshots are saved; then report.html's hover read-out.
Usage: live_check.py FLEETBENCH_BIN OUT_DIR [--no-browser]
Every wait is bounded; exits non-zero with a message on the first failed check.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

SCENARIO = """
name = "live-check"
seed = 7
thresholds = ["fails == 0", "latency.p99 < 5s"]
[[phases]]
name = "warm"
duration = "3s"
load = { model = "constant", rate = 40 }
[[phases]]
name = "ramp"
duration = "5s"
load = { model = "ramping", start_rate = 40, stages = [{ duration = "5s", target_rate = 80 }] }
[fleet]
registration_spread = "200ms"
registration_timeout = "30s"
[[fleet.classes]]
name = "live"
count = 20
sub_devices = 1
profile = { delay = { distribution = "fixed", value = "20ms" } }
[poll]
interval = "5ms"
[[commands]]
label = "read-temperature"
weight = 3
command_type = "lwm2m_request"
type = "read"
endpoint = "/3303/0/5700"
timeout = "5s"
targets = { kind = "any" }
[[commands]]
label = "read-manufacturer"
weight = 1
command_type = "lwm2m_request"
type = "read"
endpoint = "/3/0/0"
timeout = "5s"
targets = { kind = "gateway" }
"""

COUNTERS = ["commands_planned", "commands_sent", "commands_dropped", "commands_rejected",
            "http_errors", "commands_completed", "commands_retried", "events_lost"]


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def scrape(base):
    """{(metric sample name, sorted labels): value} of the counters."""
    out = {}
    for fam in text_string_to_metric_families(get(base + "/metrics")):
        name = fam.name.removeprefix("fleetbench_")
        if name in COUNTERS:
            if fam.type != "counter":
                fail(f"{fam.name} has type {fam.type}, not counter")
            for s in fam.samples:
                if s.name.endswith("_total"):
                    out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def total(sample, name, **labels):
    return sum(v for (n, ls), v in sample.items()
               if n == "fleetbench_" + name + "_total"
               and all(dict(ls).get(k) == v2 for k, v2 in labels.items()))


def main():
    binary, out = sys.argv[1], sys.argv[2]
    browser = "--no-browser" not in sys.argv
    os.makedirs(out, exist_ok=True)
    scenario = os.path.join(out, "live-check.toml")
    with open(scenario, "w") as f:
        f.write(SCENARIO)
    run_dir = os.path.join(out, "run")
    shutil.rmtree(run_dir, ignore_errors=True)
    proc = subprocess.Popen(
        [binary, "run", scenario, "--run-dir", run_dir, "--quiet", "--no-history",
         "--metrics-addr", "127.0.0.1:0", "--dashboard", "127.0.0.1:0", "--linger", "60s"],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    metrics = dashboard = None
    stderr_lines = []
    deadline = time.monotonic() + 30
    while (metrics is None or dashboard is None) and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        stderr_lines.append(line)
        m = re.match(r"metrics: (http://[^/]+)/metrics", line)
        metrics = m.group(1) if m else metrics
        m = re.match(r"dashboard: (http://[^/]+)/", line)
        dashboard = m.group(1) if m else dashboard
    if metrics is None or dashboard is None:
        proc.kill()
        fail("the binary did not print both addresses: " + "".join(stderr_lines))
    # Drain the rest of stderr so the child never blocks on a full pipe.
    threading.Thread(target=lambda: stderr_lines.extend(proc.stderr), daemon=True).start()

    shots = {}
    if browser:
        browser_thread = threading.Thread(
            target=lambda: shots.update(check_dashboard(dashboard, out)))
        browser_thread.start()
    scrapes = []
    summary_path = os.path.join(run_dir, "summary.json")
    deadline = time.monotonic() + 120
    while not os.path.exists(summary_path) and time.monotonic() < deadline:
        scrapes.append(scrape(metrics))
        time.sleep(0.5)  # scrape pacing only; no test result depends on this timing
    if not os.path.exists(summary_path):
        proc.kill()
        fail("the run wrote no summary.json within 120 s")
    # summary.json is written before the servers linger: one more scrape sees the end.
    time.sleep(0.5)
    final = scrape(metrics)
    scrapes.append(final)
    during = [s for s in scrapes if total(s, "commands_sent") > 0]
    if len(during) < 3:
        fail(f"only {len(during)} scrapes saw load; the run was too short to observe")
    for before, after in zip(scrapes, scrapes[1:]):
        for key, value in before.items():
            if after.get(key, 0) < value:
                fail(f"counter {key} went down: {value} -> {after.get(key)}")
    with open(summary_path) as f:
        summary = json.load(f)
    t = summary["total"]
    counts = t.get("counts", t)
    expected = {"commands_planned": counts["planned"], "commands_sent": counts["sent"],
                "commands_dropped": counts["dropped"], "commands_rejected": counts["rejected"],
                "http_errors": counts["http_errors"]}
    for name, want in expected.items():
        got = total(final, name)
        if got != want:
            fail(f"{name}: /metrics says {got}, summary.json says {want}")
    for outcome in ["success", "fail", "timeout"]:
        got = total(final, "commands_completed", outcome=outcome)
        if got != counts[outcome]:
            fail(f"completed{{outcome={outcome}}}: /metrics {got}, summary.json {counts[outcome]}")
    if counts["sent"] < 100:
        fail(f"the run sent only {counts['sent']} commands")
    print(f"metrics: {len(scrapes)} scrapes parsed by prometheus_client, counters monotonic, "
          f"final totals = summary.json (sent {counts['sent']}, success {counts['success']})")
    if browser:
        browser_thread.join(timeout=150)
        if "dashboard" not in shots:
            proc.kill()
            fail("the dashboard check did not finish: " + shots.get("error", "no result"))
        check_report(os.path.join(run_dir, "report.html"), out)
    proc.terminate()  # ends the linger
    proc.wait(timeout=30)
    print("live check passed")


def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1400,1800"]:
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


def check_dashboard(base, out):
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        d = driver()
    except Exception as e:  # noqa: BLE001 - reported as the failure
        return {"error": f"cannot start chromium: {e}"}
    try:
        d.get(base + "/")
        WebDriverWait(d, 60, poll_frequency=0.2).until(
            lambda d: int(d.find_element("tag name", "body").get_attribute("data-updates")) >= 3)
        points = d.execute_script("""
            var out = {};
            document.querySelectorAll('.fc-chart').forEach(function (c) {
              out[c.id] = Array.prototype.map.call(c.querySelectorAll('path.fc-line'),
                function (p) { return (p.getAttribute('d').match(/[ML]/g) || []).length; });
            });
            return out;""")
        for chart in ["chart-latency", "chart-throughput", "chart-outcomes", "chart-inflight"]:
            if not points.get(chart) or max(points[chart]) < 3:
                return {"error": f"{chart} carries no data: {points}"}
        d.save_screenshot(os.path.join(out, "dashboard.png"))
        # The legend is rebuilt on every update: click and look in one script, so that the
        # button clicked is the one on the page.
        hidden, shown = d.execute_script("""
            document.querySelector("#chart-throughput button[data-series='sent']").click();
            var q = function (n) {
              return document.querySelector("#chart-throughput path[data-series='" + n + "']").style.display;
            };
            return [q('sent'), q('completed')];""")
        if hidden != "none":
            return {"error": f"toggling 'sent' left its line displayed ({hidden!r})"}
        if shown == "none":
            return {"error": "toggling 'sent' hid 'completed' too"}
        d.save_screenshot(os.path.join(out, "dashboard-toggled.png"))
        WebDriverWait(d, 90, poll_frequency=0.5).until(
            lambda d: d.find_element("id", "verdict").is_displayed())
        verdict = d.find_element("id", "verdict").text
        link = d.find_elements("id", "report-link")
        d.save_screenshot(os.path.join(out, "dashboard-final.png"))
        if "passed" not in verdict or not link:
            return {"error": f"final verdict {verdict!r}, report link {bool(link)}"}
        d.get(link[0].get_attribute("href"))
        if "<html" not in d.page_source.lower():
            return {"error": "the report link serves no page"}
        print(f"dashboard: >= 3 updates, charts carry data {points}, toggle hides its line, "
              f"verdict {verdict!r}")
        return {"dashboard": True}
    except Exception as e:  # noqa: BLE001
        return {"error": repr(e)}
    finally:
        d.quit()


def check_report(path, out):
    from selenium.webdriver.common.action_chains import ActionChains
    d = driver()
    try:
        d.get("file://" + os.path.abspath(path))
        charts = d.find_elements("css selector", ".fc-chart svg")
        if not charts:
            fail("report.html has no interactive chart")
        ActionChains(d).move_to_element(charts[0]).move_by_offset(40, 0).perform()
        readout = d.find_element("css selector", ".fc-chart .fc-readout")
        if not readout.is_displayed() or ":" not in readout.text:
            fail(f"report.html shows no hover read-out ({readout.text!r})")
        d.save_screenshot(os.path.join(out, "report-hover.png"))
        heads = d.find_elements("css selector", "table.fc-sortable th")
        if not heads:
            fail("report.html has no sortable table")
        print(f"report.html: hover read-out {readout.text.splitlines()[:2]}, sortable table")
    finally:
        d.quit()


if __name__ == "__main__":
    main()
