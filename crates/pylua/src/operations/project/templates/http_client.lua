-- An HTTP client that fetches a URL and prints the JSON it returns, readably.
--
--   pylua run --allow-net api.example.com main.lua https://api.example.com/items
--
-- It runs under the strict sandbox (see pylua.toml): the network is reached only through
-- pylua's `net` module, which exists only when `--allow-net` (or `allow-net` in
-- pylua.toml's [run]) names the hosts it may reach. Strict code has no `require`, so the
-- JSON decoder lives in this file.
--
-- The LuaSocket variant: with LuaSocket in the project (`pylua add luasocket`, or the
-- networking profile) and `--sandbox none`, the same script fetches through `socket.http`
-- (and LuaSec's `ssl.https` for https). No policy constrains a C module: keep that for
-- code you trust.

---------------------------------------------------------------------------------------
-- A small JSON decoder (RFC 8259): objects become tables, arrays become sequences marked
-- with `json.array` as metatable (so `[]` and `{}` stay apart), null becomes `json.null`
-- (a value, so arrays have no holes).
---------------------------------------------------------------------------------------
local json = { null = setmetatable({}, { __tostring = function() return "null" end }),
  array = { __name = "json.array" } }

local escapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function fail(text, pos, what)
  local line = select(2, text:sub(1, pos):gsub("\n", "")) + 1
  error(("invalid JSON at line %d (byte %d): %s"):format(line, pos, what), 0)
end

local function skip(text, pos)
  return text:find("[^ \t\r\n]", pos) or #text + 1
end

local function utf8_char(code)
  if code < 0x80 then return string.char(code) end
  return utf8.char(code)
end

local decode_value

local function decode_string(text, pos)
  local out, i = {}, pos + 1
  while true do
    local stop = text:find('["\\%c]', i)
    if not stop then fail(text, pos, "unterminated string") end
    out[#out + 1] = text:sub(i, stop - 1)
    local c = text:sub(stop, stop)
    if c == '"' then return table.concat(out), stop + 1 end
    if c ~= "\\" then fail(text, stop, "control character in a string") end
    local e = text:sub(stop + 1, stop + 1)
    if e == "u" then
      local hex = text:match("^%x%x%x%x", stop + 2)
      if not hex then fail(text, stop, "bad \\u escape") end
      local code = tonumber(hex, 16)
      i = stop + 6
      if code >= 0xD800 and code <= 0xDBFF then
        local low = text:match("^\\u(%x%x%x%x)", i)
        local lo = low and tonumber(low, 16)
        if lo and lo >= 0xDC00 and lo <= 0xDFFF then
          code = 0x10000 + (code - 0xD800) * 0x400 + (lo - 0xDC00)
          i = i + 6
        end
      end
      out[#out + 1] = utf8_char(code)
    elseif escapes[e] then
      out[#out + 1] = escapes[e]
      i = stop + 2
    else
      fail(text, stop, "bad escape")
    end
  end
end

local function decode_number(text, pos)
  local s = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
  local n = s and tonumber(s)
  if not n then fail(text, pos, "bad number") end
  return n, pos + #s
end

local literals = { ["true"] = true, ["false"] = false }

function decode_value(text, pos, depth)
  if depth > 200 then fail(text, pos, "nested too deeply") end
  pos = skip(text, pos)
  local c = text:sub(pos, pos)
  if c == "{" then
    local obj = {}
    pos = skip(text, pos + 1)
    if text:sub(pos, pos) == "}" then return obj, pos + 1 end
    while true do
      if text:sub(pos, pos) ~= '"' then fail(text, pos, "expected a key") end
      local key
      key, pos = decode_string(text, pos)
      pos = skip(text, pos)
      if text:sub(pos, pos) ~= ":" then fail(text, pos, "expected ':'") end
      obj[key], pos = decode_value(text, pos + 1, depth + 1)
      pos = skip(text, pos)
      c = text:sub(pos, pos)
      if c == "}" then return obj, pos + 1 end
      if c ~= "," then fail(text, pos, "expected ',' or '}'") end
      pos = skip(text, pos + 1)
    end
  elseif c == "[" then
    local arr, n = setmetatable({}, json.array), 0
    pos = skip(text, pos + 1)
    if text:sub(pos, pos) == "]" then return arr, pos + 1 end
    while true do
      n = n + 1
      arr[n], pos = decode_value(text, pos, depth + 1)
      pos = skip(text, pos)
      c = text:sub(pos, pos)
      if c == "]" then return arr, pos + 1 end
      if c ~= "," then fail(text, pos, "expected ',' or ']'") end
      pos = pos + 1
    end
  elseif c == '"' then
    return decode_string(text, pos)
  elseif c == "-" or c:match("%d") then
    return decode_number(text, pos)
  else
    for word, value in pairs(literals) do
      if text:sub(pos, pos + #word - 1) == word then return value, pos + #word end
    end
    if text:sub(pos, pos + 3) == "null" then return json.null, pos + 4 end
    fail(text, pos, c == "" and "unexpected end" or ("unexpected '" .. c .. "'"))
  end
end

function json.decode(text)
  local value, pos = decode_value(text, 1, 0)
  pos = skip(text, pos)
  if pos <= #text then fail(text, pos, "trailing characters") end
  return value
end

---------------------------------------------------------------------------------------
-- Printing a decoded value readably: keys sorted, nested values indented.
---------------------------------------------------------------------------------------
local function show(value, indent, out)
  local t = type(value)
  if value == json.null then
    out[#out + 1] = "null"
  elseif t == "string" then
    out[#out + 1] = ("%q"):format(value):gsub("\\\n", "\\n")
  elseif t ~= "table" then
    out[#out + 1] = tostring(value)
  elseif getmetatable(value) == json.array then
    local n = #value
    if n == 0 then out[#out + 1] = "[]" return end
    out[#out + 1] = "[\n"
    for i = 1, n do
      out[#out + 1] = indent .. "  "
      show(value[i], indent .. "  ", out)
      out[#out + 1] = i < n and ",\n" or "\n"
    end
    out[#out + 1] = indent .. "]"
  else
    local keys = {}
    for k in pairs(value) do keys[#keys + 1] = k end
    table.sort(keys)
    if #keys == 0 then out[#out + 1] = "{}" return end
    out[#out + 1] = "{\n"
    for i, k in ipairs(keys) do
      out[#out + 1] = indent .. "  " .. k .. ": "
      show(value[k], indent .. "  ", out)
      out[#out + 1] = i < #keys and ",\n" or "\n"
    end
    out[#out + 1] = indent .. "}"
  end
end

local function pretty(value)
  local out = {}
  show(value, "", out)
  return table.concat(out)
end

---------------------------------------------------------------------------------------
-- Main: fetch, check, decode, print.
---------------------------------------------------------------------------------------
local url = ...
if not url then
  error("usage: pylua run --allow-net HOST main.lua URL", 0)
end
-- Through pylua's `net` when the host gives it, else through LuaSocket where `require` can
-- load it (--sandbox none). Returns the status and the body.
local function fetch(target)
  local accept = { Accept = "application/json" }
  if net then
    local response, err = net.request { url = target, headers = accept }
    if not response then error(err, 0) end
    return response.status, response.body
  end
  local found, http = false, nil
  if require then
    found, http = pcall(require, target:match("^https:") and "ssl.https" or "socket.http")
  end
  if not found then
    error("no network: run with --allow-net HOST (and --allow-http for http:// URLs), "
      .. "or with LuaSocket installed and --sandbox none", 0)
  end
  local chunks = {}
  local ok, status = http.request {
    url = target, headers = accept, sink = require("ltn12").sink.table(chunks),
  }
  if not ok then error("request failed: " .. tostring(status), 0) end
  return status, table.concat(chunks)
end

local status, body = fetch(url)
if status < 200 or status > 299 then
  error(("%s answered HTTP %d: %s"):format(url, status, body:sub(1, 200)), 0)
end
print(pretty(json.decode(body)))
