import pytest

from pylua_vm import _core
from pylua_vm.env import EnvironmentManager
from pylua_vm.exceptions import EnvironmentError


def test_validate_reports_missing_servers_then_passes(realrocks):
    env = EnvironmentManager(profile="standard")
    assert any("server" in e for e in env.validate_environment())
    _core.config_set("servers", f"file://{realrocks}")
    assert env.validate_environment() == []
    assert env.config()["servers"] == [f"file://{realrocks}"]


def test_profiles_switch_and_create():
    env = EnvironmentManager()
    names = {p["name"] for p in env.list_profiles()}
    assert {"minimal", "standard", "full", "networking"} <= names
    assert env.switch_profile("full") == "standard" and env.profile == "full"
    with pytest.raises(EnvironmentError):
        env.switch_profile("nope")
    made = env.create_profile("mine", ["inspect"], description="ours", extends="minimal")
    assert made["source"] == "config" and "inspect" in made["packages"]
    with pytest.raises(EnvironmentError):
        env.create_profile("mine", ["penlight"])
    with pytest.raises(EnvironmentError):
        env.create_profile("standard", ["x"])
    env.create_profile("mine", ["penlight"], replace=True)
    assert env.switch_profile("mine")


def test_system_info_and_validate_bad_profile():
    env = EnvironmentManager(profile="nope", debug_mode=True)
    info = env.get_system_info()
    assert info["embedded_lua"].startswith("Lua 5.4")
    assert env.lua_executable is None
    assert any(e.startswith("profile") for e in env.validate_environment())
