// The raw master/slave chain's master. argv: server URLs, comma-separated.
//   reg {url}          a slave registers; answered with the servers' URLs
//   pick {task}        answered with a slave (round robin) and a pick
//   request {task}     answered with a server (round robin) and a ticket
import { listen } from "./raw-link.js";

const servers = (process.argv[2] ?? "").split(",").filter(Boolean);
const slaves: string[] = [];
let n = 0;
listen(`raw-master-${process.pid}`, (kind, body, reply) => {
  n++;
  if (kind === "reg") {
    slaves.push((body as { url: string }).url);
    return reply({ servers });
  }
  const { task } = body as { task: { id: string } };
  if (kind === "pick") {
    const slaveUrl = slaves[n % slaves.length] as string;
    return reply({ taskId: task.id, slaveId: slaveUrl, slaveUrl, pick: `${slaveUrl}/${task.id}/${n}` });
  }
  const serverUrl = servers[n % servers.length] as string;
  reply({ taskId: task.id, serverId: serverUrl, serverUrl, ticket: `t${n}`, announce: true });
});
