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
