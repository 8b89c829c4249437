-- A small tour of what runs in the embedded VM: arguments, tables, closures, coroutines,
-- string patterns and captured output.
local name = arg[1] or "world"
print(("Hello, %s! This is %s running in pylua."):format(name, _VERSION))

-- Word frequencies with string patterns and a sorted table.
local text = "the quick brown fox jumps over the lazy dog the end"
local counts = {}
for word in text:gmatch("%a+") do counts[word] = (counts[word] or 0) + 1 end
local words = {}
for word, n in pairs(counts) do words[#words + 1] = { word = word, n = n } end
table.sort(words, function(a, b) return a.n > b.n or (a.n == b.n and a.word < b.word) end)
print("most frequent: " .. words[1].word .. " x" .. words[1].n)

-- A generator built on a coroutine.
local function fib()
  return coroutine.wrap(function()
    local a, b = 0, 1
    while true do coroutine.yield(a); a, b = b, a + b end
  end)
end
local first = {}
for n in fib() do
  if #first == 10 then break end
  first[#first + 1] = n
end
print("fibonacci: " .. table.concat(first, ", "))

return #words
