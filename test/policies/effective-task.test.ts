import { describe, expect, it } from "vitest";
import { effectiveTask } from "../../src/policies/index.js";
import type { Task } from "../../src/protocol/index.js";

const task = (over: Partial<Task> = {}): Task => ({ id: "t", key: "t", app: "echo", deadline: 0, require: [], clientAttrs: {}, prefs: {}, payload: null, ...over });

describe("policies/effective-task", () => {
  describe("effectiveTask", () => {
    it("returns the task itself when nothing is stored", () => {
      const t = task();
      expect(effectiveTask(t, undefined, undefined, undefined)).toBe(t);
    });

    it("puts stored client attributes and user preferences under the task's own", () => {
      const t = effectiveTask(task({ clientAttrs: { region: "eu" }, prefs: { disk: "hdd" } }), { region: "us", tier: "gold" }, { disk: "ssd", gpu: true }, undefined);
      expect(t.clientAttrs).toEqual({ region: "eu", tier: "gold" });
      expect(t.prefs).toEqual({ disk: "hdd", gpu: true });
    });

    it("keeps the task's weighted preferences beside the stored attributes and preferences", () => {
      const prefer = [{ key: "region", op: "in" as const, value: ["eu", "us"], weight: 2 }];
      const t = effectiveTask(task({ prefer, prefs: { disk: "hdd" } }), { region: "us" }, { gpu: true }, { minPower: 2 });
      expect(t.prefer).toEqual(prefer);
      expect(t.clientAttrs).toEqual({ region: "us" });
      expect(t.prefs).toEqual({ disk: "hdd", gpu: true });
    });

    it("adds the task type's minPower as power>=N unless the task constrains power", () => {
      expect(effectiveTask(task(), undefined, undefined, { minPower: 4 }).require).toEqual([{ key: "power", op: ">=", value: 4 }]);
      const own = [{ key: "power", op: "<=" as const, value: 2 }];
      expect(effectiveTask(task({ require: own }), undefined, undefined, { minPower: 4 }).require).toEqual(own);
      expect(effectiveTask(task(), undefined, undefined, { minPower: "lots" }).require).toEqual([]);
    });
  });
});
