from pylua_vm.networking import NetworkedLuaVM


def test_not_ready_without_luasocket_says_why():
    vm = NetworkedLuaVM(name="n")
    health = vm.check_networking_health()["networking"]
    assert health["networking_ready"] is False
    checks = {c["name"]: c for c in health["checks"]}
    assert not checks["luasocket_installed"]["ok"]
    assert health["networking_readiness_percentage"] < 100
    recs = vm.get_networking_recommendations()
    assert recs[0]["package"] == "luasocket" and recs[0]["networking_category"] == "core"
    assert all(r["networking_category"] in {"core", "web", "data", "security", "utility"}
               for r in recs)


def test_luasocket_from_debian_sources_round_trips(net_configured):
    vm = NetworkedLuaVM(name="n")
    result = vm.setup_networking_packages()
    assert result["networking_ready"] is True, result
    assert result["packages_installed"][0]["package"] == "luasocket"
    health = vm.check_networking_health()["networking"]
    checks = {c["name"]: c["ok"] for c in health["checks"]}
    assert checks["luasocket_loads"] and checks["tcp_loopback"] and checks["http"]
    assert health["networking_readiness_percentage"] > 50
    rec = next(r for r in vm.get_networking_recommendations() if r["package"] == "luasocket")
    assert rec["installed"] is True
