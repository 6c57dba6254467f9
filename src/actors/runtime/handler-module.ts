import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { builtinHandlers } from "./handlers.js";
import type { Handler, HandlerHooks } from "./handlers.js";
import { describeThrown } from "./handler-boundary.js";

/** A handler module that cannot serve the applications asked of it: names the file and the application. */
export class HandlerModuleError extends Error {
  override readonly name = "HandlerModuleError";
  readonly code = "HANDLER_MODULE";
  constructor(
    readonly file: string,
    readonly app: string | undefined,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

/** A user's handler module, loaded: its handlers by application, and its hooks. */
export interface HandlerModule {
  /** The absolute path it was loaded from. */
  file: string;
  /** The module's own handlers for the applications asked of it (the rest are built-ins). */
  handlers: Record<string, Handler>;
  hooks: HandlerHooks;
}

type Exports = Record<string, unknown>;

/** An export by name: ES named exports first, then the properties of a CommonJS `module.exports`. */
function exported(ns: Exports, name: string): unknown {
  if (name !== "default" && Object.hasOwn(ns, name)) return ns[name];
  const cjs = ns.default;
  return typeof cjs === "object" && cjs !== null && Object.hasOwn(cjs, name) ? (cjs as Exports)[name] : undefined;
}

/**
 * Loads an ES or CommonJS module whose named exports are handlers by application name, and
 * checks it against `apps`: each application uses the module's export of that name, else the
 * built-in of that name. A missing file, a module that does not load, an export that is not a
 * function or an application that is neither is a HandlerModuleError.
 */
export async function loadHandlerModule(file: string, apps: readonly string[]): Promise<HandlerModule> {
  const abs = resolve(file);
  try {
    if (!(await stat(abs)).isFile()) throw new Error("not a file");
  } catch {
    throw new HandlerModuleError(file, undefined, "no such file");
  }
  let ns: Exports;
  try {
    ns = (await import(pathToFileURL(abs).href)) as Exports;
  } catch (err) {
    throw new HandlerModuleError(file, undefined, `does not load: ${describeThrown(err)}`);
  }
  const handlers: Record<string, Handler> = {};
  for (const app of apps) {
    const h = exported(ns, app);
    if (h === undefined) {
      if (!Object.hasOwn(builtinHandlers, app)) throw new HandlerModuleError(file, app, `exports no handler for application ${JSON.stringify(app)}, and there is no built-in of that name (built in: ${Object.keys(builtinHandlers).join(", ")})`);
      continue;
    }
    if (typeof h !== "function") throw new HandlerModuleError(file, app, `its export ${JSON.stringify(app)} for application ${JSON.stringify(app)} is not a function (a ${h === null ? "null" : typeof h})`);
    handlers[app] = h as Handler;
  }
  const hooks: HandlerHooks = {};
  for (const name of ["setup", "teardown"] as const) {
    const f = exported(ns, name);
    if (f === undefined) continue;
    if (typeof f !== "function") throw new HandlerModuleError(file, undefined, `its export ${name} is not a function`);
    hooks[name] = f as () => unknown;
  }
  return { file: abs, handlers, hooks };
}
