"""A tour of pylua_vm: the environment, the curator, VMs, networking, a profile switch, health
checks, and errors with recovery.

Run it after pointing pylua at a rocks server (a local mirror works):

    pylua config set servers file:///path/to/a/server     # or: python -m pylua_vm config set ...
    python examples/integration_demo.py

Each step prints what it did; a step whose packages the server lacks says so and goes on.
"""

import os
import tempfile
import threading

from pylua_vm import InteractiveSession, LuaProcess, NetworkedLuaVM
from pylua_vm.env import EnvironmentManager
from pylua_vm.exceptions import (LuaMemoryError, LuaRuntimeError,
                                 LuaSyntaxError, LuaTimeoutError, PackageError, PyLuaError)


def step(title):
    print(f"\n== {title}")


# 1. The environment: what is configured, what is usable, which profiles exist.
step("environment")
env = EnvironmentManager(profile="minimal")
problems = env.validate_environment()
print("usable:", not problems, problems or "")
info = env.get_system_info()
print(f"embedded {info['embedded_lua']}, Python {info['python']}, "
      f"{len(info['interpreters'])} other interpreters, servers {info['config']['servers']}")
print("profiles:", ", ".join(p["name"] for p in env.list_profiles()))
made = env.create_profile("demo-tools", ["inspect"], description="the tour's own",
                          extends="minimal", replace=True)
print(f"created profile {made['name']} ({', '.join(made['packages'])})")

# 2. The curator: install a profile into a tree, see what is there and what is missing.
step("curator")
tree = tempfile.mkdtemp(prefix="pylua-demo-")
events = []
vm = LuaProcess("demo", tree=os.path.join(tree, "tree"))
result = vm.setup_packages(env.profile, progress=lambda *e: events.append(e))
print(f"profile {result['profile']}: installed "
      f"{[p['package'] for p in result['packages_installed']]}, "
      f"failed {[(p['package'], p['kind']) for p in result['packages_failed']]} "
      f"in {result['duration_s']} s ({len(events)} progress events)")
print("installed:", [f"{p['name']} {p['version']}" for p in vm.get_installed_packages()])
recommended = vm.get_package_recommendations()
print("recommended next:", [r["package"] for r in recommended[:5]])
manifest = vm.get_curator_manifest()
print("manifest lists", len(manifest["packages"]), "packages")

# 3. VMs: values, output, Lua functions from Python, Python functions from Lua, limits.
step("VMs")
vm.eval("function area(w, h) return w * h end")
print("execute:", vm.execute("print('hello from Lua') return 1 + 1, {x = 1}"))
print("call area(3, 4) =", vm.call("area", 3, 4))
area = vm.function("area")
print("kept function area(5, 6) =", area(5, 6))
vm.register("py_upper", lambda s: s.upper())
print("callback:", vm.eval("return py_upper('shout')"))
if any(p["name"] == "inspect" for p in vm.get_installed_packages()):
    print("a package from the tree:", vm.eval("return require('inspect')({1, 2})"))
with LuaProcess("sandboxed", sandbox="strict", memory="16M", timeout="1s",
                instructions=10**7) as strict:
    print("strict sandbox sees io:", strict.eval("return io ~= nil"), "limits:", strict.limits)
with InteractiveSession(name="repl") as session:
    session.send("counter = 41")
    print("session keeps state:", session.send("counter + 1")["values"])

# 4. Networking: LuaSocket, a loopback round trip, readiness and recommendations.
step("networking")
net = NetworkedLuaVM(name="net", tree=os.path.join(tree, "tree"))
ready = net.setup_networking_packages()
print("networking ready:", ready["networking_ready"], "-", ready["detail"])
health = net.check_networking_health()["networking"]
print(f"readiness {health['networking_readiness_percentage']}%:",
      ", ".join(f"{c['name']}={'ok' if c['ok'] else 'no'}" for c in health["checks"]))
for rec in net.get_networking_recommendations()[:4]:
    print(f"  {rec['networking_category']:8} {rec['package']:14} installed={rec['installed']}")

# 5. A profile switch: the user's own profile, installed into the same tree.
step("profile switch")
old = env.switch_profile("demo-tools")
result = vm.setup_packages(env.profile)
print(f"{old} -> {env.profile}: installed {[p['package'] for p in result['packages_installed']]}")
exported = os.path.join(tree, "environment.json")
env.export_environment(exported)
print("exported to", exported, "- re-imported profile:",
      EnvironmentManager().import_environment(exported)["profile"])

# 6. Health: the whole environment, with fixes for what is wrong.
step("health")
health = vm.check_environment_health()
print("healthy:", health["healthy"], health["issues"] or "")

# 7. Errors and recovery: every failure is an exception with a kind, and the VM goes on.
step("errors and recovery")
with LuaProcess("fragile", memory="8M", timeout=0.5) as fragile:
    for code, expected in [("x = = 1", LuaSyntaxError), ("error('boom')", LuaRuntimeError),
                           ("while true do end", LuaTimeoutError),
                           ("local t = {} while true do t[#t + 1] = ('x'):rep(1e4) end",
                            LuaMemoryError)]:
        try:
            fragile.eval(code)
        except expected as e:
            print(f"{type(e).__name__:22} kind={e.kind:12} then 1 + 1 = {fragile.eval('1 + 1')}")
    threading.Timer(0.1, fragile.interrupt).start()
    report = fragile.execute("while true do end")  # execute reports instead of raising
    print("stopped from another thread:", report["error"]["kind"])
try:
    vm.install_package("no-such-package-anywhere")
except PackageError as e:
    print("package error:", e.kind)
vm.reset()
print("after reset, area is", vm.eval("return area"), "- the state is fresh")
vm.close()
try:
    vm.eval("1")
except PyLuaError as e:
    print("closed VM:", e.kind)
