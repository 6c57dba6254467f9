// The baseline's server: plain ws + msgpackr request/reply, one send per reply, nothing batched.
import { Packr } from "msgpackr";
import { WebSocketServer } from "ws";

const packr = new Packr({ useRecords: false });
const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
wss.on("connection", (ws) => {
  ws.on("error", () => {});
  ws.on("message", (data: Buffer) => {
    const [id, body] = packr.unpack(data) as [number, unknown];
    ws.send(packr.pack([id, body]));
  });
});
wss.on("listening", () => {
  const a = wss.address();
  process.stdout.write(`ready raw raw ws://127.0.0.1:${typeof a === "object" && a !== null ? a.port : 0}\n`);
});
