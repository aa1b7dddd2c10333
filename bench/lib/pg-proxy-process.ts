// Child-process entry of the statement-counting PostgreSQL proxy
// (bench/lib/pg-counter.ts): args are the target host and port; it reports its
// port to the parent and answers "snapshot" messages with the counts.
import type { AddressInfo } from "node:net";
import { createCountingProxy } from "./pg-counter.ts";

const [host = "127.0.0.1", port = "5432"] = process.argv.slice(2);
const { server, counts } = createCountingProxy({ host, port: Number(port) });
server.listen(0, "127.0.0.1", () => {
  process.send!({ type: "listening", port: (server.address() as AddressInfo).port });
});
process.on("message", (message: { type: string; id: number }) => {
  if (message.type === "snapshot") process.send!({ type: "counts", id: message.id, counts });
});
process.on("SIGTERM", () => process.exit(0));
process.on("disconnect", () => process.exit(0));
