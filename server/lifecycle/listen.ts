// Opening listeners, with bind failures turned into one-line config errors.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ConfigError } from "../config/config-error.ts";

export async function listen(server: Server, port: number, host: string, name: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const hint = err.code === "EADDRINUSE" ? "another process uses it; change the port" : err.code === "EACCES" ? "no permission to bind it" : err.message;
      reject(new ConfigError(`cannot listen for ${name} on ${host}:${port}: ${hint} (listeners.${name}.port)`));
    };
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve(server.address() as AddressInfo);
    });
  });
}
