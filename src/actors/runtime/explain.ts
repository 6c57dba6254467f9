import { hasRole } from "../../protocol/index.js";
import type { Message } from "../../protocol/index.js";
import { MAX_UNCONFIRMED, effectiveTask, explainPlacement } from "../../policies/index.js";
import type { Policy, PolicyContext } from "../../policies/index.js";
import type { ServerTable } from "../../state/index.js";
import type { Channel } from "../../transport/index.js";
import type { Tables } from "./peer-sync.js";

/**
 * Answers `placement.explain` at an allocator: a dry run of the placement of the task, matched
 * with the stored attributes as a placement would match them, reserving nothing.
 *
 * Who learns what: `status` (every server's id, figures and attributes) is an admin's to read
 * once authentication is on, so a verified principal that is not an admin (a client) gets the
 * counts, the scores and figures of the candidates without their ids, and the chosen server's
 * id, which a placement would tell it anyway. It explains its own tasks only: the stored client
 * attributes applied are its own, whatever `client` says. Without authentication every peer may
 * read `status`, and sees the ids too.
 */
export function onExplain(m: Extract<Message, { type: "placement.explain" }>, ch: Channel, table: ServerTable, tables: Tables, makePolicy: () => Policy, pctx: PolicyContext): void {
  const p = ch.principal;
  const admin = p === undefined || !p.verified || hasRole(p, "admin");
  const clientId = admin ? (m.body.client ?? ch.peerId) : p.id;
  const t = m.body.task;
  const task = effectiveTask(t, tables.client.get(clientId), t.user === undefined ? undefined : tables.user.get(t.user), tables["task-type"].get(t.app));
  const explanation = explainPlacement(table, task, makePolicy, pctx, { maxUnconfirmed: MAX_UNCONFIRMED, showIds: admin });
  ch.reply(m, "explanation", explanation);
}
