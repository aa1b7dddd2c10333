// A port free right now on a loopback host, for servers whose name must carry
// their port before they start (the OS picks it; a race with another process
// is possible but rare).
import { createServer, type AddressInfo } from "node:net";

export async function freePort(host = "127.0.0.1"): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once("error", reject);
    probe.listen(0, host, () => resolve());
  });
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
