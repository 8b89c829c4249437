"""The curator's judgement from Python: the same doctor, audit, recommend, package tests and
benchmarks as the CLI, as Python data."""

import json
import os

from pylua_vm import LuaProcess
from pylua_vm.utils import curator


def test_doctor_reports_the_environment_with_fixes(configured):
    result = curator.doctor(only="environment")
    report = result["report"]
    checks = {f["check"] for f in report["findings"]}
    assert {"lua.embedded", "tools.cc", "servers", "cache"} <= checks
    assert report["healthy"] is True
    assert result["fixed"] is None


def test_audit_finds_an_advisory_and_a_changed_file(configured, tmp_path):
    vm = LuaProcess("aud", tree=str(tmp_path / "tree"))
    vm.install_package("inspect")
    advisory = tmp_path / "adv.json"
    advisory.write_text(json.dumps({
        "id": "TEST-PY-1", "summary": "inspect shows too much",
        "affected": [{"package": {"ecosystem": "LuaRocks", "name": "inspect"},
                      "ranges": [{"type": "ECOSYSTEM",
                                  "events": [{"introduced": "0"}, {"fixed": "99"}]}]}]}))
    clean = curator.audit(tree=str(tmp_path / "tree"))
    assert clean["passed"] and clean["integrity"]["files"] > 0
    lua_file = tmp_path / "tree" / "share" / "lua" / "5.4" / "inspect.lua"
    lua_file.write_text("return {}\n")
    report = curator.audit(tree=str(tmp_path / "tree"), advisories=[str(advisory)])
    assert not report["passed"]
    assert report["advisories"][0]["id"] == "TEST-PY-1"
    assert report["advisories"][0]["fixed"] == "99"
    assert "inspect" in report["integrity"]["damaged"]


def test_bench_measures_a_package(configured):
    [bench] = curator.bench(["dkjson"], runs=3)
    assert bench["package"] == "dkjson"
    [module] = [m for m in bench["modules"] if m["module"] == "dkjson"]
    assert module["cold_ms"]["median"] > 0 and module["memory_kib"]["median"] > 0


def test_recommend_outside_a_project_draws_on_the_profile(configured):
    report = curator.recommend()
    assert isinstance(report, dict) and "recommendations" in report
