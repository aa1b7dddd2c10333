// A TCP proxy on loopback in front of a server's federation listener, so a
// test can cut the network between two servers and heal it (TLS passes
// through untouched). Blocking resets every open connection and refuses new
// ones, as a partition looks to the servers.
import { connect, createServer, type Socket } from "node:net";
import { freePort } from "./ports.ts";

export interface TcpProxy {
  port: number;
  block(): void;
  unblock(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, port?: number): Promise<TcpProxy> {
  const listenPort = port ?? (await freePort());
  const open = new Set<Socket>();
  let blocked = false;
  const server = createServer((client) => {
    if (blocked) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(targetPort, "127.0.0.1");
    open.add(client);
    open.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listenPort, "127.0.0.1", () => resolve());
  });
  return {
    port: listenPort,
    block() {
      blocked = true;
      for (const socket of open) socket.resetAndDestroy();
      open.clear();
    },
    unblock() {
      blocked = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
