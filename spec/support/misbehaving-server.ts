// A remote "server" the test controls, to show that a peer which answers
// slowly, with garbage or never cannot stall anyone else: real HTTPS on
// loopback (the run's test certificate), its own ed25519 key served at
// /_matrix/key/v2/server like any server, and a mode for everything else.
// It can join a room of ours the way a server does (make_join, sign,
// send_join), signing its requests with X-Matrix.
import type { ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import { authorizationHeader } from "../../federation/transport/federation-client.ts";
import { parsePdu } from "../../server/protocol/event-format.ts";
import type { RoomEvent } from "../../server/protocol/events.ts";
import { signEvent } from "../../server/protocol/hashes.ts";
import type { JsonObject } from "../../server/protocol/json.ts";
import type { RoomVersion } from "../../server/protocol/room-versions.ts";
import { generateSigningKey, publicKeyBase64, signJson, type SigningKey } from "../../server/protocol/signing.ts";
import { federationRequest } from "./federation.ts";
import { freePort } from "./ports.ts";
import { testCertificates } from "./test-ca.ts";

export type Behaviour = "never" | "garbage" | "slow";

export interface MisbehavingServer {
  serverName: string;
  key: SigningKey;
  /** How requests other than key fetches are answered from now on. */
  behave(mode: Behaviour): void;
  /** Requests received, by path (key fetches included). */
  requests: string[];
  /** Joins `userId` (of this server) to a room of `resident` through make_join and send_join. */
  join(residentUrl: string, residentName: string, roomId: string, userId: string, version: RoomVersion): Promise<RoomEvent>;
  /** A signed request to `residentUrl` as this server. */
  signedRequest(residentUrl: string, residentName: string, method: string, path: string, body?: JsonObject): ReturnType<typeof federationRequest>;
  close(): Promise<void>;
}

export async function startMisbehavingServer(): Promise<MisbehavingServer> {
  const certs = await testCertificates();
  const port = await freePort();
  const serverName = `127.0.0.1:${port}`;
  const key = generateSigningKey();
  const requests: string[] = [];
  let mode: Behaviour = "never";
  const hanging = new Set<ServerResponse>();

  const server: Server = createServer({ cert: certs.certPem, key: certs.keyPem }, (req, res) => {
    requests.push(req.url ?? "");
    if (req.url?.startsWith("/_matrix/key/v2/server")) {
      const body = signJson({ server_name: serverName, valid_until_ts: Date.now() + 3_600_000, verify_keys: { [key.keyId]: { key: publicKeyBase64(key) } }, old_verify_keys: {} }, serverName, key);
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(body));
      return;
    }
    req.resume();
    if (mode === "never") {
      hanging.add(res);
      return;
    }
    if (mode === "garbage") {
      res.writeHead(200, { "Content-Type": "application/json" }).end("{this is not json");
      return;
    }
    setTimeout(() => res.writeHead(500).end(), 10_000).unref();
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", () => resolve()));

  const signedRequest = (residentUrl: string, residentName: string, method: string, path: string, body?: JsonObject) =>
    federationRequest(residentUrl, method, path, {
      ...(body ? { json: body } : {}),
      headers: { Authorization: authorizationHeader(serverName, residentName, key, method, path, body) },
    });

  return {
    serverName,
    key,
    requests,
    behave(next) {
      mode = next;
    },
    signedRequest,
    async join(residentUrl, residentName, roomId, userId, version) {
      const made = await signedRequest(residentUrl, residentName, "GET", `/_matrix/federation/v1/make_join/${encodeURIComponent(roomId)}/${encodeURIComponent(userId)}?ver=${version.id}`);
      if (made.status !== 200) throw new Error(`make_join answered ${made.status}: ${JSON.stringify(made.body)}`);
      const template = { ...(made.body.event as JsonObject), origin_server_ts: Date.now() };
      const event = parsePdu(signEvent(template, serverName, key, version), version);
      const path = `/_matrix/federation/v2/send_join/${encodeURIComponent(roomId)}/${encodeURIComponent(event.eventId)}`;
      const sent = await signedRequest(residentUrl, residentName, "PUT", path, event.pdu);
      if (sent.status !== 200) throw new Error(`send_join answered ${sent.status}: ${JSON.stringify(sent.body)}`);
      return event;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
