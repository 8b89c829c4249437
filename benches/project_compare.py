#!/usr/bin/env python3
"""Project commands on the realrocks mirror, with uv's no-op sync measured in the same run.

usage: benches/project_compare.py [MIRROR_DIR] [--runs N]

Builds the mirror first if it is missing (python3 ../shared/realrocks/build-mirror.py) and
pylua in release mode; installs uv from PyPI if it is not on PATH. Prints a Markdown table of
medians. Cases:
  sync (no-op)       `pylua sync` on a synced standard-profile project (whole process)
  run (project)      `pylua run hello.lua` inside that project (checks the lock and tree first)
  run (--no-project) the same script without the project check
  lock (warm cache)  `pylua lock` of the standard profile after deleting pylua.lock
  rollback           `pylua rollback` between the standard and minimal profiles (3 packages
                     restored or removed each time; builds come from the build cache)
  uv sync (no-op)    `uv sync --offline` on a synced uv project with no dependencies
"""
import os, shutil, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
mirror = next((a for a in sys.argv[1:] if not a.startswith("--")), "/tmp/realrocks")
runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 20

if not os.path.exists(os.path.join(mirror, "manifest")):
    subprocess.run([sys.executable, os.path.join(ROOT, "..", "shared", "realrocks", "build-mirror.py"), mirror], check=True)
subprocess.run(["cargo", "build", "--release", "--locked", "-p", "pylua-cli"], cwd=ROOT, check=True, capture_output=True)
target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
PYLUA = os.path.join(target, "release", "pylua")
if not shutil.which("uv"):
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "uv"], check=True)

work = tempfile.mkdtemp(prefix="pylua-project-bench-")
env = dict(os.environ, PYLUA_HOME=os.path.join(work, "home"))
env.pop("PYLUA_LOG", None)
app = os.path.join(work, "app")
os.makedirs(app)


def timed(cmd, cwd=app):
    start = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return elapsed


timed([PYLUA, "init", "--profile", "standard", "--server", mirror])
with open(os.path.join(app, "hello.lua"), "w") as f:
    f.write("print(require('cjson').encode({1, 2}))\n")
timed([PYLUA, "sync"])

results = {}
results["sync (no-op)"] = [timed([PYLUA, "sync"]) for _ in range(runs)]
results["run (project)"] = [timed([PYLUA, "run", "hello.lua"]) for _ in range(runs)]
results["run (--no-project)"] = [timed([PYLUA, "run", "--no-project", "--tree", os.path.join(app, ".pylua"), "hello.lua"]) for _ in range(runs)]
lock_times = []
for _ in range(max(5, runs // 4)):
    os.remove(os.path.join(app, "pylua.lock"))
    lock_times.append(timed([PYLUA, "lock"]))
results["lock (standard, warm cache)"] = lock_times
timed([PYLUA, "profile", "use", "minimal", "--yes"])
results["rollback"] = [timed([PYLUA, "rollback"]) for _ in range(max(6, runs // 2))]

uv_dir = os.path.join(work, "uvproj")
os.makedirs(uv_dir)
with open(os.path.join(uv_dir, "pyproject.toml"), "w") as f:
    f.write('[project]\nname = "bench"\nversion = "0.1.0"\nrequires-python = ">=3.8"\ndependencies = []\n')
subprocess.run(["uv", "sync", "--offline", "--python", sys.executable], cwd=uv_dir, check=True, capture_output=True)
results["uv sync (no-op)"] = [timed(["uv", "sync", "--offline", "--python", sys.executable], cwd=uv_dir) for _ in range(runs)]

print(f"load average: {open('/proc/loadavg').read().split()[:3]}, {os.cpu_count()} CPUs, {runs} runs")
print("| case | median | min | max |")
print("|---|---|---|---|")
for case, times in results.items():
    ms = [t * 1e3 for t in times]
    print(f"| {case} | {statistics.median(ms):.1f} ms | {min(ms):.1f} ms | {max(ms):.1f} ms |")
noop = statistics.median(results["sync (no-op)"])
uv = statistics.median(results["uv sync (no-op)"])
print(f"\npylua sync no-op / uv sync no-op = {noop / uv:.2f}")
shutil.rmtree(work, ignore_errors=True)
