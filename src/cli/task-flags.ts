import type { Attrs, Constraint, Preference } from "../protocol/index.js";
import { ConstraintSyntaxError, parseConstraint, parsePreference } from "../protocol/index.js";
import { CliError, parseNumberFlag } from "./errors.js";
import { parseAttrs } from "./start.js";

/** The flags that say how a task is matched, shared by `allot submit` and `allot explain`. */
export const TASK_MATCH_OPTIONS = {
  require: { type: "string", multiple: true },
  prefer: { type: "string", multiple: true },
  user: { type: "string" },
  "client-attr": { type: "string", multiple: true },
  cost: { type: "string" },
} as const;

export const TASK_MATCH_HELP = `  --require EXPR        hard constraint, repeatable: key=value, key!=value, key>=N, key<=N,
                        key>N, key<N, key in (a,b,c). Keys: a server's attributes, or id,
                        app (any application it offers), power, capacity, load, free.
                        Numbers and true/false are typed; "quoted" values are strings.
                        Quote it for the shell: --require 'region in (eu,us)'
  --prefer EXPR[:W]     soft constraint with weight W (a finite number >= 0, default 1),
                        repeatable: servers meeting it score W more, and the best-scoring
                        eligible servers are chosen among: region=eu:2,
                        'region in (eu,us):0.5'. W follows the last ":"
  --user ID             the user the tasks run for (their stored preferences apply)
  --client-attr K=V     a client attribute, repeatable: a server with the same attribute
                        scores a point (on top of the attributes stored for the client)
  --cost N              the task's expected cost in work units (masters prefer servers with
                        that much idle power)
`;

/** How a task is matched, as the flags give it. */
export interface TaskMatch {
  require: Constraint[];
  prefer?: Preference[];
  user?: string;
  clientAttrs?: Attrs;
  cost?: number;
}

/** One --require or --prefer value parsed, or a CliError naming the flag, the position and the token. */
function expression<T>(flag: string, text: string, parse: (s: string) => T): T {
  try {
    return parse(text);
  } catch (err) {
    if (err instanceof ConstraintSyntaxError) throw new CliError(`${err.message}\n${err.pointer()}`, flag);
    throw new CliError(err instanceof Error ? err.message : String(err), flag);
  }
}

/** Reads --require, --prefer, --user, --client-attr and --cost, or throws a CliError naming the bad flag. */
export function taskMatchFlags(v: { require?: string[] | undefined; prefer?: string[] | undefined; user?: string | undefined; "client-attr"?: string[] | undefined; cost?: string | undefined }): TaskMatch {
  const require = (v.require ?? []).map((r) => expression("--require", r, parseConstraint));
  const prefer = (v.prefer ?? []).map((r) => expression("--prefer", r, parsePreference));
  const clientAttrs = parseAttrs("--client-attr", v["client-attr"]);
  const cost = v.cost === undefined ? undefined : parseNumberFlag("--cost", v.cost, 0);
  return {
    require,
    ...(prefer.length > 0 ? { prefer } : {}),
    ...(v.user !== undefined ? { user: v.user } : {}),
    ...(Object.keys(clientAttrs).length > 0 ? { clientAttrs } : {}),
    ...(cost !== undefined ? { cost } : {}),
  };
}
