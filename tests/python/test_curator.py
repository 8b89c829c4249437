import pytest

from pylua_vm import LuaProcess
from pylua_vm.exceptions import PackageError


def test_setup_packages_installs_what_servers_have_and_reports_the_rest(configured):
    vm = LuaProcess("cur")
    result = vm.setup_packages("standard")
    assert result["profile"] == "standard" and result["duration_s"] >= 0
    names = {p["package"] for p in result["packages_installed"]}
    failed = {p["package"]: p for p in result["packages_failed"]}
    assert names and not (names & set(failed))
    assert all(p["reason"] for p in failed.values())
    installed = {p["name"] for p in vm.get_installed_packages()}
    assert names <= installed
    recs = {r["package"] for r in vm.get_package_recommendations("standard")}
    assert not (recs & installed) and set(failed) <= recs | set(failed)
    health = vm.check_environment_health()
    assert health["healthy"], health["issues"]
    manifest = vm.get_curator_manifest()
    assert {p["name"] for p in manifest["packages"]} == installed


def test_install_package_errors_are_package_errors(configured):
    vm = LuaProcess("cur")
    with pytest.raises(PackageError) as e:
        vm.install_package("no-such-package-anywhere")
    assert e.value.kind in ("not_found", "no_solution")
    assert vm.install_package("inspect")["packages"][0]["name"] == "inspect"
    assert vm.eval("return require('inspect')({1})") == "{ 1 }"


def test_health_reports_missing_servers():
    health = LuaProcess("cur").check_environment_health()
    assert not health["healthy"]
    assert any(i.startswith("servers") for i in health["issues"])


def test_core_logs_reach_python_logging_and_installs_report_progress(configured, caplog):
    import logging
    caplog.set_level(logging.DEBUG, logger="pylua")
    vm = LuaProcess("cur", debug_mode=True)
    events = []
    vm.install_package("inspect", progress=lambda *event: events.append(event))
    # The core's own event, from the Rust library, under the `pylua` logger tree.
    built = [r for r in caplog.records if r.name == "pylua.operations.install"]
    assert built and "fetched and built" in built[0].getMessage(), caplog.records
    assert "package=inspect" in built[0].getMessage()
    kinds = [e[0] for e in events]
    assert kinds[0] == "planned" and "installing" in kinds
    assert ("built", "inspect") in {(e[0], e[1]) for e in events}
    # Without debug the core forwards warnings and errors only.
    from pylua_vm.logger import set_debug
    set_debug(False)
    caplog.clear()
    LuaProcess("quiet", tree="other-tree").install_package("inspect")
    assert not [r for r in caplog.records if r.name == "pylua.operations.install"]
