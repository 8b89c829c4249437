"""Shared fixtures: an isolated pylua home (config, cache, trees in a temp dir) and local rocks
servers. The real-package servers come from the realrocks mirror (PYLUA_REALROCKS, default
/tmp/pylua-realrocks); under CI=true a missing mirror fails the tests that need it."""

import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
MIRROR = os.environ.get("PYLUA_REALROCKS", "/tmp/pylua-realrocks")


def _need(condition: bool, what: str) -> None:
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"prerequisite missing under CI=true: {what}")
    pytest.skip(f"prerequisite missing: {what}")


@pytest.fixture(autouse=True)
def pylua_home(tmp_path, monkeypatch):
    """Every test gets its own PYLUA_HOME and working directory."""
    home = tmp_path / "pylua-home"
    monkeypatch.setenv("PYLUA_HOME", str(home))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


@pytest.fixture(scope="session")
def realrocks():
    _need(os.path.isfile(os.path.join(MIRROR, "manifest")),
          f"the realrocks mirror at {MIRROR} (../shared/realrocks/build-mirror.py)")
    return MIRROR


@pytest.fixture(scope="session")
def netrocks(realrocks, tmp_path_factory):
    """The mirror plus LuaSocket built from Debian's source package."""
    _need(shutil.which("luarocks-admin") is not None, "luarocks-admin")
    out = tmp_path_factory.mktemp("netrocks") / "server"
    result = subprocess.run([sys.executable, os.path.join(HERE, "build_luasocket_server.py"),
                             realrocks, str(out)], capture_output=True, text=True)
    _need(result.returncode == 0, f"a luasocket rock from Debian sources: {result.stderr}")
    return str(out)


@pytest.fixture
def configured(pylua_home, realrocks):
    """`pylua config set servers file://MIRROR` done first, as the spec's users do."""
    from pylua_vm import _core
    _core.config_set("servers", f"file://{realrocks}")
    return realrocks


@pytest.fixture
def path_without_lua(tmp_path):
    """A PATH that finds every program the current one does except Lua interpreters and
    LuaRocks (`lua*`, `luajit*`, `luarocks*`): a machine with no Lua, C compiler kept."""
    bin_dir = tmp_path / "bin-without-lua"
    bin_dir.mkdir()
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            target = os.path.join(d, name)
            if name.startswith(("lua", "luajit", "luarocks")) or (bin_dir / name).exists():
                continue
            if os.path.isfile(target) and os.access(target, os.X_OK):
                os.symlink(target, bin_dir / name)
    return str(bin_dir)


@pytest.fixture
def net_configured(pylua_home, netrocks):
    from pylua_vm import _core
    _core.config_set("servers", f"file://{netrocks}")
    return netrocks
