#!/usr/bin/env python3
"""pylua install vs Debian's luarocks on the realrocks mirror, measured in the same run.

usage: benches/install_compare.py [MIRROR_DIR] [--runs N]

Builds the mirror first if it is missing (python3 ../shared/realrocks/build-mirror.py), and
pylua in release mode. Prints a table of medians and writes it to stdout as Markdown.
Cases: every package of the mirror into one fresh tree from a cold cache; the same with a warm
cache; a no-op reinstall of an installed package; listing the tree.
"""
import json, os, shutil, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
mirror = next((a for a in sys.argv[1:] if not a.startswith("--")), "/tmp/realrocks")
runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 5

if not os.path.exists(os.path.join(mirror, "manifest")):
    subprocess.run([sys.executable, os.path.join(ROOT, "..", "shared", "realrocks", "build-mirror.py"), mirror], check=True)
if not shutil.which("luarocks") or not os.path.exists("/usr/include/lua5.4/lua.h"):
    subprocess.run("apt-get update -qq && apt-get install -y -qq lua5.4 liblua5.4-dev luarocks", shell=True, check=True)
subprocess.run(["cargo", "build", "--release", "--locked", "-p", "pylua-cli"], cwd=ROOT, check=True, capture_output=True)
PYLUA = os.path.join(ROOT, "target", "release", "pylua")

packages = [h["name"] for h in json.loads(subprocess.run(
    [PYLUA, "search", "", "--only-server", mirror, "--json"], capture_output=True, check=True).stdout)["result"]]


def timed(cmd, env=None):
    start = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return elapsed


def env_with(home):
    e = dict(os.environ)
    e["PYLUA_HOME"] = home
    return e


def luarocks(tree, *args):
    return ["luarocks", "--lua-version=5.4", "--tree", tree, f"--only-server={mirror}", *args]


results = {}
work = tempfile.mkdtemp(prefix="pylua-bench-")

# Cold: fresh cache and tree every run.
cold_p, cold_l = [], []
for i in range(runs):
    home, tree = os.path.join(work, f"cold-home-{i}"), os.path.join(work, f"cold-tree-{i}")
    cold_p.append(timed([PYLUA, "install", *packages, "--only-server", mirror, "--tree", tree], env_with(home)))
    ltree = os.path.join(work, f"lr-cold-{i}")
    shutil.rmtree(os.path.expanduser("~/.cache/luarocks"), ignore_errors=True)
    start = time.perf_counter()
    for p in packages:
        timed(luarocks(ltree, "install", p))
    cold_l.append(time.perf_counter() - start)
results["cold"] = (cold_p, cold_l)

# Warm: the cache from a first run, a fresh tree every run.
warm_home = os.path.join(work, "warm-home")
timed([PYLUA, "install", *packages, "--only-server", mirror, "--tree", os.path.join(work, "warm-seed")], env_with(warm_home))
warm_p, warm_l = [], []
for i in range(runs):
    warm_p.append(timed([PYLUA, "install", *packages, "--only-server", mirror, "--tree", os.path.join(work, f"warm-tree-{i}")], env_with(warm_home)))
    ltree = os.path.join(work, f"lr-warm-{i}")
    start = time.perf_counter()
    for p in packages:
        timed(luarocks(ltree, "install", p))
    warm_l.append(time.perf_counter() - start)
results["warm"] = (warm_p, warm_l)

# No-op: the package is installed already.
tree, ltree = os.path.join(work, "warm-tree-0"), os.path.join(work, "lr-warm-0")
results["noop"] = (
    [timed([PYLUA, "install", "penlight", "--only-server", mirror, "--tree", tree], env_with(warm_home)) for _ in range(runs * 4)],
    [timed(luarocks(ltree, "install", "penlight")) for _ in range(runs)],
)
results["list"] = (
    [timed([PYLUA, "list", "--tree", tree], env_with(warm_home)) for _ in range(runs * 4)],
    [timed(["luarocks", "--lua-version=5.4", "--tree", ltree, "list"]) for _ in range(runs * 2)],
)

targets = {"cold": "≥ 3× faster", "warm": "≥ 10× faster", "noop": "≤ 4 ms", "list": "≤ 4 ms"}
labels = {
    "cold": f"all {len(packages)} mirror packages into a fresh tree, cold cache",
    "warm": "the same, warm cache",
    "noop": "no-op reinstall (`install penlight`, installed)",
    "list": "`list` of that tree",
}


def fmt(s):
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"


print(f"| case | pylua (median) | luarocks 3.8 (median) | speed-up | target | verdict |")
print("|---|---|---|---|---|---|")
for key in ["cold", "warm", "noop", "list"]:
    p, l = statistics.median(results[key][0]), statistics.median(results[key][1])
    ratio = l / p
    if key in ("cold", "warm"):
        ok = ratio >= (3 if key == "cold" else 10)
    else:
        ok = p <= 0.004
    print(f"| {labels[key]} | {fmt(p)} | {fmt(l)} | {ratio:.1f}× | {targets[key]} | {'pass' if ok else '**miss**'} |")
print(f"\n{runs} runs per case (no-op and list: {runs * 4} pylua runs); packages: {', '.join(packages)}")
shutil.rmtree(work, ignore_errors=True)
