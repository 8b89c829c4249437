-- Naive recursive Fibonacci, shared by the embedded VM and the lua5.4 reference run.
function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end
