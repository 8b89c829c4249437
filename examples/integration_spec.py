# The specification's example, verbatim. Run `pylua config set servers file:///path/to/server`
# first (a server with the profile's packages and luasocket).
from pylua_vm.env import EnvironmentManager
from pylua_vm.lua_process import LuaProcess
from pylua_vm.networking import NetworkedLuaVM

env = EnvironmentManager(profile='full', debug_mode=True)
errors = env.validate_environment()
if errors:
    print("Environment issues:", errors)

vm = LuaProcess(
    name=f"AGI-{env.profile.title()}",
    lua_executable=env.lua_executable,
    debug_mode=env.debug_mode
)

result = vm.setup_packages(env.profile)
print(f"Packages installed: {len(result['packages_installed'])}")

net_vm = NetworkedLuaVM(name="AGI-Network", debug_mode=True)
net_result = net_vm.setup_networking_packages(include_advanced=True)
print(f"Networking ready: {net_result['networking_ready']}")

health = net_vm.check_networking_health()
print(f"Network readiness: {health['networking']['networking_readiness_percentage']}%")

recommendations = net_vm.get_networking_recommendations()
for rec in recommendations:
    print(f"Category: {rec['networking_category']} - {rec['package']}")
