-- The module `@MODULE@`. Add functions to `M`; `spec/@MODULE@_spec.lua` tests them.
local M = {}

M._VERSION = "0.1.0"

--- Adds up the numbers of a sequence.
function M.sum(list)
  local total = 0
  for i = 1, #list do
    total = total + list[i]
  end
  return total
end

return M
