"""Running Lua from Python with pylua_vm: values, errors, limits, callbacks."""
from pylua_vm import LuaProcess
from pylua_vm.exceptions import LuaTimeoutError

with LuaProcess("demo", sandbox="strict", memory="64M", timeout="1s") as vm:
    print(vm.execute("print('hello from Lua') return 1 + 1, {a = 1}"))
    vm.eval("function greet(name) return 'hi ' .. name end")
    print(vm.call("greet", "python"))
    vm.register("double", lambda x: x * 2)
    print(vm.eval("return double(21)"))
    try:
        vm.eval("while true do end")
    except LuaTimeoutError as e:
        print("stopped:", e.kind)
