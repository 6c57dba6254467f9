// The raw master/slave chain's slave. argv: master URL, proxy|direct.
//   submit {task, pick}: asks the master for a server, then
//     proxy:  sends expect + run to the server in one frame and relays its answer;
//     direct: announces the ticket to the server (expect), then answers the client with the server.
import { RawLink, listen } from "./raw-link.js";

const [masterUrl = "", link = "proxy"] = process.argv.slice(2);
let master: RawLink;
const servers = new Map<string, RawLink>();
type Task = { id: string; key: string; app: string; deadline: number; payload: unknown };
type Placed = { serverId: string; serverUrl: string; ticket: string };

listen(
  `raw-slave-${process.pid}`,
  (_kind, body, reply) => {
    const { task, pick } = body as { task: Task; pick: string };
    const client = { id: "client", addr: "" };
    master.send("request", { task: { ...task, payload: null }, client, metrics: { queue: 1 }, pick }, (a) => {
      const p = a as Placed;
      const server = servers.get(p.serverUrl) as RawLink;
      const expect = { taskId: task.id, key: task.key, ticket: p.ticket, client, expiresAt: task.deadline };
      if (link === "direct") {
        server.send("expect", expect, () => reply({ taskId: task.id, serverId: p.serverId, serverUrl: p.serverUrl, ticket: p.ticket }));
        return;
      }
      server.send("run", { expect, run: { taskId: task.id, key: task.key, app: task.app, ticket: p.ticket, payload: task.payload } }, reply);
    });
  },
  async (url) => {
    master = await RawLink.open(masterUrl);
    const { servers: urls } = (await master.request("reg", { url })) as { servers: string[] };
    for (const u of urls) servers.set(u, await RawLink.open(u));
  },
);
