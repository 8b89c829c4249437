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


def test_export_import_round_trip(tmp_path, realrocks):
    env = EnvironmentManager(profile="minimal")
    env.set_config("servers", f"file://{realrocks}")
    env.create_profile("mine", ["inspect"], description="ours", extends="minimal")
    env.switch_profile("mine")
    env.lua_executable = "5.1"
    exported = tmp_path / "env.json"
    doc = env.export_environment(exported)
    assert doc["profile"] == "mine" and "mine" in doc["config"]

    # Elsewhere: another configuration file, imported into.
    other = EnvironmentManager(config_path=str(tmp_path / "other" / "config.toml"))
    result = other.import_environment(exported)
    assert result["profile"] == "mine" and other.profile == "mine"
    assert other.lua_executable == "5.1"
    assert other.config()["servers"] == [f"file://{realrocks}"]
    mine = next(p for p in other.list_profiles() if p["name"] == "mine")
    assert "inspect" in mine["packages"]
    assert other.export_environment()["config"] == doc["config"]


def test_export_leaves_out_credentials_and_local_paths(tmp_path):
    env = EnvironmentManager()
    env.set_config("servers", "file:///srv/rocks")
    with open(env.config_file, "a", encoding="utf-8") as f:
        f.write("# ours\n[server-auth.'https://rocks.example.com/']\n"
                "username = 'ci'\npassword = 's3cret-token'\n")
    doc = env.export_environment(tmp_path / "env.json")
    assert "s3cret-token" not in (tmp_path / "env.json").read_text()
    assert "server-auth" not in doc["config"] and "file:///srv/rocks" in doc["config"]
    # What was exported imports elsewhere.
    other = EnvironmentManager(config_path=str(tmp_path / "other" / "config.toml"))
    other.import_environment(doc)
    assert other.config()["servers"] == ["file:///srv/rocks"]


@pytest.mark.parametrize("change, words", [
    (lambda d: d.update(format="something-else"), "format"),
    (lambda d: d.update(version=2), "version"),
    (lambda d: d.update(extra=1), "unknown keys"),
    (lambda d: d.update(profile=["x"]), "profile"),
    (lambda d: d.update(profile="not-defined"), "not defined"),
    (lambda d: d.update(debug_mode="yes"), "debug_mode"),
    (lambda d: d.update(lua_executable="/no/such/lua"), ""),
    (lambda d: d.update(config="servers = ['ftp://x']"), "servers"),
    (lambda d: d.update(config="[profiles.evil]\npackages = ['../x']"), "profiles.evil"),
    (lambda d: d.update(config="catalogs = ['/etc/passwd']"), "catalogs"),
    (lambda d: d.update(config="cache-dir = '/tmp/elsewhere'"), "cache-dir"),
    (lambda d: d.update(config="ca-certs = ['/etc/ssl/certs/ca-certificates.crt']"), "ca-certs"),
    (lambda d: d.update(config="[server-auth.'https://x.test/']\nusername = 'u'\npassword = 'p'"),
     "server-auth"),
    (lambda d: d.update(config="servers = = 1"), ""),
])
def test_import_refuses_hostile_exports_and_changes_nothing(tmp_path, change, words):
    env = EnvironmentManager(profile="minimal")
    env.set_config("servers", "file:///srv/rocks")
    doc = env.export_environment()
    change(doc)
    before = open(env.config_file).read()
    with pytest.raises(EnvironmentError) as e:
        EnvironmentManager().import_environment(doc)
    assert words in str(e.value)
    assert open(env.config_file).read() == before


def test_import_refuses_files_that_are_not_exports(tmp_path):
    env = EnvironmentManager()
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (2 << 20))
    for content, words in [(b"{not json", "not a pylua_vm environment export"),
                           (b"[1, 2]", "expected a JSON object"), (b"\xff\xfe", "export")]:
        path = tmp_path / "bad.json"
        path.write_bytes(content)
        with pytest.raises(EnvironmentError, match=words):
            env.import_environment(path)
    with pytest.raises(EnvironmentError, match="larger than"):
        env.import_environment(big)
    with pytest.raises(EnvironmentError) as e:
        env.import_environment(tmp_path / "missing.json")
    assert e.value.kind == "io"
