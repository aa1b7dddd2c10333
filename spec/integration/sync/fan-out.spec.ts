// Fan-out (issue: Performance, part 2): one message to a room wakes every
// member's waiting /sync, and the statements it costs the server do not grow
// with the number of members, because the members' reads run as one
// statement each: identical ones merged (server/storage/batching-reader.ts),
// per-member ones keyed (server/storage/keyed-read.ts). The server runs with
// the default configuration. Counted from
// myelin_db_statements_total; every member must still get its own, correct
// answer (the sender its transaction_id, everyone the right unread count).
// The same holds across one user's rooms: an initial sync reads every room
// at once, so its statements do not grow with the number of rooms.
import { expect } from "chai";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, join, nextTxnId, room, sync, V3, type SyncResponse } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

const SMALL = 6;
const LARGE = 30;

describe("sync fan-out (real server process)", function () {
  this.timeout(120_000);
  let server: RunningServer;
  let api: TestClient;

  before(async () => {
    // Presence off: members coming online would wake each other too, and this counts a message's cost
    // alone; the api role runs no job workers, whose own statements would blur the count.
    server = await startServer({ config: { presence: { enabled: false } }, args: ["--role", "api"] });
    api = new TestClient(server.baseUrl);
  });
  after(async () => {
    await server?.stop();
  });

  async function statements(): Promise<number> {
    const text = (await api.get("/metrics", { unspecified: true })).text;
    const line = text.split("\n").find((l) => l.startsWith("myelin_db_statements_total"));
    expect(line, "myelin_db_statements_total in /metrics").to.not.equal(undefined);
    return Number(line!.slice(line!.lastIndexOf(" ") + 1));
  }

  interface TestRoom {
    roomId: string;
    members: TestUser[];
    /** Messages sent so far: all unread for everyone but the sender. */
    sent: number;
  }

  async function roomOf(size: number): Promise<TestRoom> {
    const members = await Promise.all(Array.from({ length: size }, () => registerUser(api)));
    const roomId = await createRoom(api, members[0]!, { preset: "public_chat" });
    for (const m of members.slice(1)) await join(api, m, roomId);
    return { roomId, members, sent: 0 };
  }

  /** Every member long-polls; one message; the statements from the send to the last member's answer. */
  async function fanOut(testRoom: TestRoom, body: string): Promise<{ cost: number; answers: SyncResponse[] }> {
    const { roomId, members } = testRoom;
    const tokens = await Promise.all(members.map(async (m) => (await sync(api, m, "?timeout=0")).next_batch));
    const polls = members.map((m, i) => api.get<SyncResponse>(`${V3}/sync?since=${encodeURIComponent(tokens[i]!)}&timeout=30000`, { token: m.access_token }));
    // Let every long-poll reach its wait before the message goes out.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const before = await statements();
    const txnId = nextTxnId();
    const sent = await api.put(`${room(roomId)}/send/m.room.message/${txnId}`, { msgtype: "m.text", body }, { token: members[0]!.access_token });
    expect(sent.status).to.equal(200);
    testRoom.sent++;
    const answers = await Promise.all(polls);
    const cost = (await statements()) - before;
    for (const [i, answer] of answers.entries()) {
      expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
      const joined = answer.body.rooms.join[roomId];
      expect(joined, `member ${i} woken with the room`).to.not.equal(undefined);
      const event = joined!.timeline.events.find((e) => e.content?.body === body);
      expect(event, `member ${i} got the message`).to.not.equal(undefined);
      // The sender's own device sees its transaction ID; nobody else does.
      if (i === 0) expect(event!.unsigned?.transaction_id).to.equal(txnId);
      else expect(event!.unsigned?.transaction_id).to.equal(undefined);
      expect((joined as unknown as { unread_notifications: { notification_count: number } }).unread_notifications.notification_count).to.equal(i === 0 ? 0 : testRoom.sent);
    }
    return { cost, answers: answers.map((a) => a.body) };
  }

  it(`costs about the same number of statements for ${LARGE} members as for ${SMALL}, each member answered correctly`, async () => {
    const small = await roomOf(SMALL);
    const large = await roomOf(LARGE);
    // A first round warms what is looked up once per process (parameter types of each read).
    await fanOut(small, "warm-up small");
    await fanOut(large, "warm-up large");
    const smallCost = (await fanOut(small, "counted small")).cost;
    const largeCost = (await fanOut(large, "counted large")).cost;
    // A statement per member per read (about 20 reads each) would add some 500
    // statements for the larger room; batched, the two cost the same (54 each
    // when measured). Allowed: a few more, for a read that falls outside its batch.
    expect(largeCost, `statements: ${SMALL} members ${smallCost}, ${LARGE} members ${largeCost}`).to.be.below(smallCost + 8);
  });

  it("answers an initial sync of many rooms with about as many statements as one of a few, every room complete", async () => {
    const initialSync = async (rooms: number) => {
      const [user, other] = await Promise.all([registerUser(api), registerUser(api)]);
      const roomIds: string[] = [];
      for (let i = 0; i < rooms; i++) {
        const roomId = await createRoom(api, user, { preset: "public_chat", name: `room ${i}` });
        await join(api, other, roomId);
        const sent = await api.put(`${room(roomId)}/send/m.room.message/${nextTxnId()}`, { msgtype: "m.text", body: `hello ${i}` }, { token: other.access_token });
        expect(sent.status).to.equal(200);
        roomIds.push(roomId);
      }
      // Warm-up: the first sync also records the device; the counted one is a fresh initial sync.
      await sync(api, user, "?timeout=0");
      const before = await statements();
      const body = await sync(api, user, "?timeout=0");
      const cost = (await statements()) - before;
      expect(Object.keys(body.rooms.join).sort()).to.deep.equal([...roomIds].sort());
      for (const [i, roomId] of roomIds.entries()) {
        const joined = body.rooms.join[roomId]!;
        expect(joined.timeline.events.map((e) => e.content?.body)).to.include(`hello ${i}`);
        expect(joined.state.events.concat(joined.timeline.events).find((e) => e.type === "m.room.name")?.content.name).to.equal(`room ${i}`);
      }
      return cost;
    };
    const few = await initialSync(3);
    const many = await initialSync(15);
    // Read one room at a time, each room costs about ten statements (some 120
    // more for the larger sync). Read at once, every room's reads are one
    // statement per kind (17 for either when measured; Redis answers for all
    // rooms come back in one pipeline, so no room falls behind its batch).
    expect(many, `statements: 3 rooms ${few}, 15 rooms ${many}`).to.be.below(few + 8);
  });
});
