-- Run with busted: `pylua add --dev busted && pylua run busted`.
local m = require("@MODULE@")

describe("@MODULE@", function()
  it("sums a list", function()
    assert.are.equal(6, m.sum({ 1, 2, 3 }))
  end)
  it("sums nothing to zero", function()
    assert.are.equal(0, m.sum({}))
  end)
end)
