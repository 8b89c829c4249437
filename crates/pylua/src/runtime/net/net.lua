-- The Lua face of `net` (see net/mod.rs). `raw` is the host's request function:
-- raw(url, method, headers, body, timeout_seconds) -> status, headers, body | nil, message.
-- Headers cross as "name\0value" lines; the host rejects anything that would break them.
local raw = ...
local type, pairs, error, tostring = type, pairs, error, tostring
local concat, find, sub, gmatch = table.concat, string.find, string.sub, string.gmatch

local function flatten(headers)
  if headers == nil then return "" end
  if type(headers) ~= "table" then error("net.request: headers must be a table", 3) end
  local parts = {}
  for name, value in pairs(headers) do
    if type(name) ~= "string" then error("net.request: header names must be strings", 3) end
    if type(value) == "number" then value = tostring(value) end
    if type(value) ~= "string" then
      error("net.request: the value of header '" .. name .. "' must be a string", 3)
    end
    parts[#parts + 1] = name .. "\0" .. value
  end
  return concat(parts, "\n")
end

local net = {}

function net.request(request)
  if type(request) == "string" then request = { url = request } end
  if type(request) ~= "table" then
    error("net.request: expected a table {url = ..., method = ..., headers = ..., body = ...}", 2)
  end
  local url, method, body, timeout = request.url, request.method or "GET", request.body, request.timeout
  if type(url) ~= "string" then error("net.request: url must be a string", 2) end
  if type(method) ~= "string" then error("net.request: method must be a string", 2) end
  if body ~= nil and type(body) ~= "string" then error("net.request: body must be a string", 2) end
  if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout or timeout <= 0) then
    error("net.request: timeout must be a positive number of seconds", 2)
  end
  local status, headers, text = raw(url, method, flatten(request.headers), body, timeout)
  if status == nil then return nil, headers end
  local fields = {}
  for line in gmatch(headers, "[^\n]+") do
    local nul = find(line, "\0", 1, true)
    if nul then
      local name, value = sub(line, 1, nul - 1), sub(line, nul + 1)
      fields[name] = fields[name] and (fields[name] .. ", " .. value) or value
    end
  end
  return { status = status, headers = fields, body = text, ok = status >= 200 and status < 300 }
end

function net.get(url, headers)
  local response, err = net.request { url = url, headers = headers }
  if not response then error(err, 2) end
  return response
end

return net
