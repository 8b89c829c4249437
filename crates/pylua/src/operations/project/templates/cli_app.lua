-- The logic of the command-line program, kept apart from `main.lua` so specs can test it.
local app = {}

app.usage = "usage: pylua run main.lua [--name NAME] [--shout] [--help]"

--- Parses the arguments into options, or returns nil and a message.
function app.parse_args(args)
  local options = { name = "world", shout = false, help = false }
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--name" then
      options.name = args[i + 1]
      if not options.name then return nil, "--name needs a value" end
      i = i + 1
    elseif a == "--shout" then
      options.shout = true
    elseif a == "--help" or a == "-h" then
      options.help = true
    else
      return nil, "unknown argument '" .. a .. "'"
    end
    i = i + 1
  end
  return options
end

function app.greet(options)
  local text = "Hello, " .. options.name .. "!"
  return options.shout and text:upper() or text
end

return app
