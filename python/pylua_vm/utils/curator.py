"""The curator's package methods of LuaProcess, over the library's operations: profile
expansion and the catalog (curator), installs (operations::install), the tree's contents.
Nothing here decides versions or layouts; it sequences calls and shapes the results."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from .. import _core
from ..exceptions import PyLuaError

if TYPE_CHECKING:
    from ..lua_process import LuaProcess


def _request(name: str, constraint: str = "") -> str:
    return f"{name}@{constraint}" if constraint else name


def install_requests(process: "LuaProcess", requests: List[str],
                     progress: Optional[Callable[..., None]] = None) -> Dict[str, Any]:
    """One install transaction (all or nothing) into the process's tree."""
    process.log.debug("installing %s into %s", ", ".join(requests), process.tree)
    return _core.install(requests, tree=process.tree, lua=process._lua_for_packages(),
                         config_path=process.config_path, progress=progress)


def install_package(process: "LuaProcess", name: str, version: str = "latest",
                    progress: Optional[Callable[..., None]] = None) -> Dict[str, Any]:
    constraint = "" if version in ("latest", "", None) else version
    return install_requests(process, [_request(name, constraint)], progress)


def setup_packages(process: "LuaProcess", profile: str = "standard",
                   progress: Optional[Callable[..., None]] = None) -> Dict[str, Any]:
    start = time.monotonic()
    lua = process.tree_lua_version
    expansion = _core.expand_profile(profile, lua=lua, config_path=process.config_path)
    installed: List[Dict[str, Any]] = []
    failed: List[Dict[str, Any]] = []
    for name, why in expansion["skipped"]:
        failed.append({"package": name, "kind": "unsupported", "reason": why})
    for req in expansion["requirements"]:
        request = _request(req["name"], req["constraint"])
        try:
            report = install_requests(process, [request], progress)
        except PyLuaError as e:
            process.log.info("%s not installed: %s", request, e)
            failed.append({"package": req["name"], "request": request, "kind": e.kind,
                           "reason": str(e)})
            continue
        for p in report["packages"]:
            if p["name"] == req["name"]:
                installed.append({"package": p["name"], "version": p["version"],
                                  "action": p["action"]})
    return {
        "profile": profile,
        "packages_installed": installed,
        "packages_failed": failed,
        "tree": process.tree,
        "duration_s": round(time.monotonic() - start, 3),
    }


def installed_packages(process: "LuaProcess") -> List[Dict[str, Any]]:
    rocks = _core.installed(process.tree, process._lua_for_packages())
    return [{"name": r["name"], "version": r["version"], "modules": sorted(r["modules"]),
             "commands": sorted(r["commands"]), "dependencies": r["dependencies"]}
            for r in rocks]


def module_loads(process: "LuaProcess", module: str) -> Optional[str]:
    """None when ``require(module)`` works in a fresh VM with this process's settings (so
    the check does not touch the caller's state), else the error."""
    try:
        vm = process._fresh_vm()
    except PyLuaError as e:
        return str(e)
    try:
        vm.call("require", module)
        return None
    except PyLuaError as e:
        return e.message
    finally:
        vm.close()


def check_environment_health(process: "LuaProcess") -> Dict[str, Any]:
    checks: List[Dict[str, Any]] = []

    def check(name: str, ok: bool, detail: str, fix: str = "") -> None:
        checks.append({"name": name, "ok": ok, "detail": detail, "fix": fix})

    try:
        ok = process._fresh_vm().eval("return 6 * 7") == 42
        check("vm", ok, process.release)
    except PyLuaError as e:
        check("vm", False, str(e), "check lua_executable")
    config = _core.config_get(process.config_path)
    servers = config.get("servers") or []
    check("servers", bool(servers), ", ".join(servers) or "no rocks server configured",
          "pylua config set servers URL")
    try:
        packages = installed_packages(process)
        check("tree", True, f"{len(packages)} packages in {process.tree}")
    except PyLuaError as e:
        packages = []
        check("tree", False, str(e), "reinstall the packages into a new tree")
    for p in packages:
        # A package loads when its first module does (C modules need sandbox 'none').
        if not p["modules"]:
            continue
        module = sorted(p["modules"], key=len)[0]
        why = module_loads(process, module)
        check(f"package:{p['name']}", why is None,
              f"require('{module}')" + ("" if why is None else f": {why}"),
              "" if why is None else f"install_package('{p['name']}') again")
    # The doctor's environment checks (compiler, tools, configuration, servers, cache).
    try:
        report = _core.doctor(only="environment", config_path=process.config_path)["report"]
        for f in report["findings"]:
            if f["check"] in ("lua.embedded", "config"):
                continue
            fix = f.get("fix") or {}
            check(f"doctor:{f['check']}", f["severity"] != "error",
                  f["what"] + (f" ({f['why']})" if f.get("why") else ""),
                  _fix_text(fix))
    except PyLuaError as e:
        check("doctor", False, str(e))
    healthy = all(c["ok"] for c in checks)
    return {
        "healthy": healthy,
        "checks": checks,
        "issues": [f"{c['name']}: {c['detail']}" for c in checks if not c["ok"]],
        "tree": process.tree,
        "lua": process.release,
    }


def _fix_text(fix: Dict[str, Any]) -> str:
    """A doctor fix in Python users' words."""
    action = fix.get("action", "")
    if action == "install_system":
        return f"install {fix['what']}" + (f" (Debian: apt-get install {fix['debian']})" if fix.get("debian") else "")
    if action == "install_lua":
        return f"python -m pylua_vm lua install {fix['version']}"
    if action in ("sync", "reinstall", "remove_orphans"):
        return "pylua_vm.utils.curator.doctor(project, fix=True)"
    if action == "lock":
        return "python -m pylua_vm lock"
    if action == "unset_env":
        return f"unset {fix['var']}"
    return action.replace("_", " ")


def doctor(project: Optional[str] = None, only: Optional[str] = None, fix: bool = False,
           offline: bool = False, config_path: Optional[str] = None) -> Dict[str, Any]:
    """The doctor's report (``report`` with ``findings`` and ``healthy``); ``fix=True``
    applies the safe fixes to ``project`` in one recorded transaction (``fixed``)."""
    return _core.doctor(project=project, only=only, fix=fix, offline=offline,
                        config_path=config_path)


def recommend(project: Optional[str] = None, tree: Optional[str] = None,
              config_path: Optional[str] = None) -> Dict[str, Any]:
    """What a project's code requires but lacks, what it never uses, better alternatives."""
    return _core.recommend(project=project, tree=tree, config_path=config_path)


def audit(project: Optional[str] = None, tree: Optional[str] = None,
          advisories: Optional[List[str]] = None, deny: Optional[List[str]] = None,
          config_path: Optional[str] = None) -> Dict[str, Any]:
    """Advisories (OSV), changed installed files and risky code; ``passed`` is the verdict."""
    return _core.audit_env(project=project, tree=tree, advisories=advisories or [],
                           deny=deny or [], config_path=config_path)


def test_packages(packages: List[str], lua: Optional[str] = None, timeout: float = 300.0,
                  servers: Optional[List[str]] = None,
                  config_path: Optional[str] = None) -> List[Dict[str, Any]]:
    """Each package's own test suite against it installed in a throw-away tree."""
    import shutil
    import sys
    pylua = shutil.which("pylua") or shutil.which("pylua", path=str(
        __import__("pathlib").Path(sys.executable).parent))
    if pylua is None:
        raise PyLuaError("the pylua command is not on PATH (pip installs it with pylua_vm)",
                         kind="usage")
    return _core.test_packages(packages, pylua, lua=lua, timeout=timeout,
                               servers=servers or [], config_path=config_path)


def bench(packages: List[str], lua: Optional[str] = None, runs: int = 7,
          servers: Optional[List[str]] = None,
          config_path: Optional[str] = None) -> List[Dict[str, Any]]:
    """Require time (cold, warm), memory and size per module of each package."""
    return _core.bench(packages, lua=lua, runs=runs, servers=servers or [],
                       config_path=config_path)


def curator_manifest(process: "LuaProcess") -> Dict[str, Any]:
    return {
        "name": process.name,
        "lua": process.release,
        "backend": process.backend,
        "sandbox": process.sandbox,
        "limits": process.limits,
        "tree": process.tree,
        "tree_lua_version": process.tree_lua_version,
        "packages": installed_packages(process),
        "config": _core.config_get(process.config_path),
        "pylua_version": _core.__version__,
    }


def package_recommendations(process: "LuaProcess",
                            profile: Optional[str] = None) -> List[Dict[str, Any]]:
    """What the profile (default: the configured one, else ``standard``) lists and the tree
    does not have, with the catalog's reason."""
    config = _core.config_get(process.config_path)
    profile = profile or config.get("profile") or "standard"
    expansion = _core.expand_profile(profile, lua=process.tree_lua_version,
                                     config_path=process.config_path)
    catalog = {e["name"]: e for e in _core.catalog(process.config_path)}
    have = {p["name"] for p in installed_packages(process)}
    out = []
    for req in expansion["requirements"]:
        if req["name"] in have:
            continue
        entry = catalog.get(req["name"], {})
        out.append({
            "package": req["name"],
            "constraint": req["constraint"],
            "category": entry.get("category", ""),
            "reason": f"in profile '{profile}': {entry.get('summary', 'listed by the profile')}",
            "native": entry.get("native", False),
            "installed": False,
        })
    # What the library's judgement adds: required but missing, unused, alternatives.
    try:
        report = _core.recommend(tree=process.tree, config_path=process.config_path)
    except PyLuaError as e:
        process.log.info("recommend: %s", e)
        return out
    listed = {r["package"] for r in out}
    for r in report.get("recommendations", []):
        package = r.get("package")
        if not package or package in listed or package in have:
            continue
        out.append({
            "package": package,
            "constraint": "",
            "category": r.get("kind", ""),
            "reason": r.get("reason", ""),
            "native": catalog.get(package, {}).get("native", False),
            "installed": False,
        })
    return out
