-- A command-line program: `pylua run main.lua [--name NAME] [--shout] [--help]`.
-- Its logic lives in `app.lua` (tested by spec/app_spec.lua with busted); this file only
-- reads the arguments and prints.

package.path = "./?.lua;" .. package.path
local app = require("app")

local options, err = app.parse_args({ ... })
if not options then
  -- The standard sandbox has no os.exit: an error ends the run with a failure status.
  error(err .. "\n" .. app.usage, 0)
end
if options.help then
  print(app.usage)
  return
end
print(app.greet(options))
