"""The public API as users and their tools see it: the type stubs name exactly what the
compiled core has, and help() on the main classes explains them."""

import ast
import inspect
import os

import pylua_vm
from pylua_vm import _core

STUB = os.path.join(os.path.dirname(pylua_vm.__file__), "_core.pyi")


def stub_names():
    tree = ast.parse(open(STUB).read())
    top, classes = set(), {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            top.add(node.name)
            classes[node.name] = {n.name if isinstance(n, ast.FunctionDef) else n.target.id
                                  for n in node.body
                                  if isinstance(n, (ast.FunctionDef, ast.AnnAssign))}
        elif isinstance(node, ast.FunctionDef):
            top.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            top.add(node.target.id)
    return top, classes


def test_stubs_match_the_compiled_core():
    top, classes = stub_names()
    public = {n for n in dir(_core) if not n.startswith("_")} | {"__version__"}
    assert top == public, (top ^ public)
    for cls, members in classes.items():
        real = {n for n in dir(getattr(_core, cls)) if not n.startswith("_")}
        if "__call__" in members:
            real.add("__call__")
        assert members - {"__init__"} == real, (cls, members ^ real)


def test_help_explains_the_main_classes():
    for cls in (pylua_vm.LuaProcess, pylua_vm.EnvironmentManager, pylua_vm.NetworkedLuaVM):
        text = inspect.getdoc(cls)
        assert text and len(text) > 80, cls
    for method in ("execute", "eval", "call", "function", "interrupt", "run_file",
                   "setup_packages", "install_package", "check_environment_health"):
        assert inspect.getdoc(getattr(pylua_vm.LuaProcess, method)), method
    for method in ("export_environment", "import_environment", "validate_environment"):
        assert inspect.getdoc(getattr(pylua_vm.EnvironmentManager, method)), method
