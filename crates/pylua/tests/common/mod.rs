//! Fixtures shared by the test binaries of the library.

/// Runaway code in every shape the limits must see through (`pcall`, coroutines, error
/// handlers); written in the Lua every interpreter parses.
pub const RUNAWAY_LOOPS: &[(&str, &str)] = &[
    ("plain loop", "while true do end"),
    ("pcall in a loop", "while true do pcall(function() while true do end end) end"),
    ("pcall of pcall", "while true do pcall(pcall, function() while true do end end) end"),
    ("coroutine.wrap", "coroutine.wrap(function() while true do end end)()"),
    (
        "coroutine resumed in a loop",
        "local co = coroutine.create(function() while true do pcall(function() while true do end end) end end)
         while true do coroutine.resume(co) end",
    ),
    (
        "nested coroutines",
        "coroutine.wrap(function() coroutine.wrap(function() while true do end end)() end)()",
    ),
    (
        "error handler that swallows",
        "while true do xpcall(function() while true do end end, function() return 'ignored' end) end",
    ),
    (
        "error handler that loops",
        "xpcall(function() while true do end end, function() while true do end end) while true do end",
    ),
    (
        "coroutine created before the loop, resumed under pcall",
        "local co = coroutine.wrap(function() while true do coroutine.yield() end end)
         while true do pcall(co) end",
    ),
    ("recursion caught each time", "local function f() pcall(f) end while true do f() end"),
];

/// A runaway loop behind a to-be-closed variable (Lua 5.4 syntax).
pub const CLOSE_LOOP: (&str, &str) = (
        "to-be-closed variable that loops",
        "do local x <close> = setmetatable({}, { __close = function() while true do end end }) while true do end end",
    );
