// One hop of the raw placement chain that the one-task-in-flight row measures the tiered path
// against. argv: `forward NEXT_URL` passes every request on to the next hop and relays its answer
// back by id (as a vip or a tier-1 does); `answer SERVER_URL` answers each request itself with
// that server and a ticket (as a tier-2 does). Plain ws + msgpackr, one send per message.
import { RawLink, listen } from "./raw-link.js";

const [mode = "", url = ""] = process.argv.slice(2);
if ((mode !== "forward" && mode !== "answer") || url === "") throw new Error(`usage: raw-hop forward NEXT_URL | answer SERVER_URL, got ${process.argv.slice(2).join(" ")}`);
let next: RawLink | undefined;
let n = 0;

listen(
  `raw-hop-${process.pid}`,
  (kind, body, reply) => {
    if (next) return next.send(kind, body, reply);
    const { task } = body as { task: { id: string } };
    reply({ taskId: task.id, serverId: url, serverUrl: url, ticket: `t${++n}` });
  },
  async () => {
    if (mode === "forward") next = await RawLink.open(url);
  },
);
