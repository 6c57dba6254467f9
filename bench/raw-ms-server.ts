// The raw master/slave chain's app server: keeps announced tickets, runs "echo".
//   run {expect?, run}: with `expect` (the proxy's one frame) the ticket comes with the run;
//   without, the run's ticket must have been announced by an earlier "expect".
import { listen } from "./raw-link.js";

const id = `raw-server-${process.pid}`;
const tickets = new Map<string, string>();
type Run = { taskId: string; ticket: string; payload: unknown };
listen(id, (kind, body, reply) => {
  if (kind === "expect") {
    const e = body as { taskId: string; ticket: string };
    tickets.set(e.ticket, e.taskId);
    return reply({ load: tickets.size });
  }
  const { expect, run } = body as { expect?: { taskId: string; ticket: string }; run: Run };
  const ok = expect ? expect.ticket === run.ticket : tickets.get(run.ticket) === run.taskId;
  if (!expect) tickets.delete(run.ticket);
  reply(ok ? { taskId: run.taskId, serverId: id, result: run.payload, cached: false } : { error: "bad ticket" });
});
