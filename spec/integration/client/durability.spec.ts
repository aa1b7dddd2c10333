// An acknowledged message survives SIGKILL right after the 200, and a retry
// with the same transaction ID after the restart returns the same event.
import { expect } from "chai";
import { registerUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, room, sync } from "../../support/rooms.ts";
import { startServer } from "../../support/server-process.ts";

describe("durability (real server process, SIGKILL)", function () {
  this.timeout(90_000);

  it("keeps a message acknowledged just before the process was killed", async () => {
    const first = await startServer();
    const api = new TestClient(first.baseUrl);
    const alice = await registerUser(api);
    const roomId = await createRoom(api, alice);
    const txnId = `durable-${Date.now()}`;
    const sent = await api.put<{ event_id: string }>(`${room(roomId)}/send/m.room.message/${txnId}`, { msgtype: "m.text", body: "survive" }, { token: alice.access_token });
    expect(sent.status).to.equal(200);
    first.child.kill("SIGKILL");
    expect((await first.exited).signal).to.equal("SIGKILL");

    const second = await startServer();
    try {
      const again = new TestClient(second.baseUrl);
      const page = await again.get<{ chunk: Array<Record<string, any>> }>(`${room(roomId)}/messages?dir=b&limit=5`, { token: alice.access_token });
      expect(page.body.chunk[0]!.event_id).to.equal(sent.body.event_id);
      const s = await sync(again, alice);
      expect(s.rooms.join[roomId]!.timeline.events.map((e) => e.event_id)).to.include(sent.body.event_id);
      const retry = await again.put<{ event_id: string }>(`${room(roomId)}/send/m.room.message/${txnId}`, { msgtype: "m.text", body: "survive" }, { token: alice.access_token });
      expect(retry.body.event_id).to.equal(sent.body.event_id);
    } finally {
      await second.stop();
    }
  });
});
