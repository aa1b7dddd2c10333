// Room creation below HTTP, where requests can really start in the same
// millisecond: identical createRoom requests of one user, issued at once,
// must make distinct rooms (a v12 room ID is the hash of its create event).
import { expect } from "chai";
import { BoundedCache } from "../../../server/lib/bounded-cache.ts";
import { generateSigningKey } from "../../../server/protocol/signing.ts";
import { createRoom, type CreateRoomRequest } from "../../../server/rooms/create-room.ts";
import { createRoomService } from "../../../server/rooms/room-service.ts";
import { createDatabase, type Database } from "../../../server/storage/database.ts";
import { testDatabaseUrl } from "../../support/test-env.ts";

describe("createRoom (real PostgreSQL)", () => {
  let db: Database;
  before(() => {
    db = createDatabase(testDatabaseUrl, { max: 8 });
  });
  after(async () => {
    await db.close();
  });

  for (const version of ["12"]) {
    it(`makes distinct rooms for identical requests issued in the same millisecond (v${version})`, async () => {
      const signer = { serverName: "localhost", key: generateSigningKey() };
      // A frozen clock: every request starts in the same millisecond.
      const frozen = Date.now();
      const rooms = createRoomService({ db, signer, versions: new BoundedCache("room_versions", 100), afterCommit: async () => undefined, clock: () => frozen });
      const request: CreateRoomRequest = {
        creator: `@same${Date.now().toString(36)}v${version}:localhost`,
        creatorProfile: { displayname: null, avatarUrl: null },
        preset: "private_chat",
        visibility: "private",
        initialState: [],
        invite: [],
        isDirect: false,
        roomVersion: version,
      };
      const created = await Promise.all(Array.from({ length: 6 }, () => createRoom({ signer, rooms }, request)));
      expect(new Set(created.map((c) => c.roomId)).size).to.equal(6);
    });
  }
});
