import { describe, expect, it } from "vitest";
import { Unreachable } from "../../src/state/index.js";

describe("Unreachable", () => {
  it("holds a member for its while, then lets it go", () => {
    const u = new Unreachable(1000, 4);
    expect(u.active(0)).toBeUndefined();
    u.mark("a", 0);
    u.mark("b", 500);
    expect(u.active(999)).toEqual(["a", "b"]);
    expect(u.active(1000)).toEqual(["b"]);
    expect(u.active(1500)).toBeUndefined();
  });
  it("keeps at most `max`, dropping the one that would expire first; a new failure renews a member", () => {
    const u = new Unreachable(1000, 2);
    u.mark("a", 0);
    u.mark("b", 1);
    u.mark("a", 2); // renewed: now the last to expire
    u.mark("c", 3); // b goes
    expect(u.active(4)).toEqual(["a", "c"]);
    expect(u.active(1002)).toEqual(["c"]);
  });
  it("holds nothing when turned off", () => {
    const u = new Unreachable(0, 4);
    u.mark("a", 0);
    expect(u.active(0)).toBeUndefined();
  });
});
