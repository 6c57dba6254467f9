// An app server with a handler of your own, a tier-2 distributor for it to join, and a client
// submitting tasks to it — all in this process, over real WebSockets on loopback.
//   npm run build && node dist/examples/embed-app-server.js
import { startNode } from "allot";
import type { Handler } from "allot";

/** Counts the words of a text: the payload is `{ text }`, the result `{ words }`. */
const wordCount: Handler = (payload) => {
  const text = typeof payload === "object" && payload !== null && "text" in payload ? String(payload.text) : "";
  return { words: text.split(/\s+/).filter(Boolean).length };
};

const distributor = await startNode({ role: "tier2", logLevel: "warn" });
const app = await startNode({
  role: "app",
  logLevel: "warn",
  apps: ["word-count", "echo"],
  handlers: { "word-count": wordCount },
  capacity: 8,
  power: 2,
  attrs: { region: "eu" },
  join: [distributor.url],
});
const client = await startNode({ role: "client", entries: [distributor.url], logLevel: "warn" });

try {
  const r = await client.submit({ app: "word-count", payload: { text: "the quick brown fox jumps" } });
  console.log(`server ${r.serverId} counted`, r.result);
  const many = await Promise.all(["a b", "c d e", "f"].map((text) => client.submit({ app: "word-count", payload: { text } })));
  console.log(many.map((m) => m.result));
} finally {
  await client.stop();
  await app.stop();
  await distributor.stop();
}
