// Rules for the m.room.create event itself (rule 1 of every room version).
import { expect } from "chai";
import type { JsonObject } from "../../../../server/protocol/json.ts";
import {
  ALICE,
  ALL_VERSIONS,
  type AuthCase,
  BOB,
  type TestRoom,
  deny,
  expectDecision,
  from,
  runCases,
  standardRoom,
  upTo,
} from "./room-builder.ts";

/** A second create event built in the test room (ids and room id shaped like the room's). */
function createEvent(room: TestRoom, content: JsonObject, extra: { prev?: string[]; roomId?: string; sender?: string } = {}) {
  const base: JsonObject = { room_version: room.version.id };
  if (!room.version.implicitRoomCreator) base.creator = extra.sender ?? ALICE;
  return room.event({
    type: "m.room.create",
    stateKey: "",
    sender: extra.sender ?? ALICE,
    content: { ...base, ...content },
    prevEventIds: extra.prev ?? [],
    authEventIds: [],
    roomId: extra.roomId,
  });
}

const cases: AuthCase[] = [
  { name: "create: well-formed create event is allowed", event: (r) => createEvent(r, {}), expect: "allow" },
  {
    name: "create.prev_events: create event with prev_events",
    event: (r) => createEvent(r, {}, { prev: [r.latest] }),
    expect: deny("create.prev_events"),
  },
  {
    name: "create.room_id: room_id server differs from the sender's",
    versions: upTo(11),
    event: (r) => createEvent(r, {}, { roomId: "!room:elsewhere.example" }),
    expect: deny("create.room_id"),
  },
  {
    name: "create.room_id: room_id without a server name",
    versions: upTo(11),
    event: (r) => createEvent(r, {}, { roomId: "!nodomain" }),
    expect: deny("create.room_id"),
  },
  {
    name: "create.room_id: v12 create event carrying a room_id",
    versions: from(12),
    event: (r) => createEvent(r, {}, { roomId: r.roomId }),
    expect: deny("create.room_id"),
  },
  {
    name: "create.room_version: unrecognised room_version",
    event: (r) => createEvent(r, { room_version: "999" }),
    expect: deny("create.room_version"),
  },
  {
    name: "create.room_version: room_version that is not a string",
    event: (r) => createEvent(r, { room_version: 12 }),
    expect: deny("create.room_version"),
  },
  {
    name: "create.room_version: another recognised version is allowed",
    event: (r) => createEvent(r, { room_version: "1" }),
    expect: "allow",
  },
  {
    name: "create.room_version: absent room_version is allowed",
    event: (r) => {
      const e = createEvent(r, {});
      delete (e.content as { room_version?: unknown }).room_version;
      return e;
    },
    expect: "allow",
  },
  {
    name: "create.creator: content without creator (v1–v10)",
    versions: upTo(10),
    event: (r) => {
      const e = createEvent(r, {});
      delete (e.content as { creator?: unknown }).creator;
      return e;
    },
    expect: deny("create.creator"),
  },
  {
    name: "create.creator: creator is implicit from v11",
    versions: from(11),
    event: (r) => createEvent(r, {}),
    expect: "allow",
  },
  {
    name: "create.additional_creators: not an array",
    versions: from(12),
    event: (r) => createEvent(r, { additional_creators: BOB }),
    expect: deny("create.additional_creators"),
  },
  {
    name: "create.additional_creators: a non-string entry",
    versions: from(12),
    event: (r) => createEvent(r, { additional_creators: [BOB, 5] }),
    expect: deny("create.additional_creators"),
  },
  {
    name: "create.additional_creators: an entry that is not a user id",
    versions: from(12),
    event: (r) => createEvent(r, { additional_creators: ["bob:b.example"] }),
    expect: deny("create.additional_creators"),
  },
  {
    name: "create.additional_creators: an entry with a bad server name",
    versions: from(12),
    event: (r) => createEvent(r, { additional_creators: ["@bob:bad server"] }),
    expect: deny("create.additional_creators"),
  },
  {
    name: "create.additional_creators: valid user ids (historical localparts too) are allowed",
    versions: from(12),
    event: (r) => createEvent(r, { additional_creators: [BOB, "@Old_Style!:c.example:8448"] }),
    expect: "allow",
  },
  {
    name: "create.additional_creators: ignored before v12",
    versions: upTo(11),
    event: (r) => createEvent(r, { additional_creators: "nonsense" }),
    expect: "allow",
  },
];

describe("auth rules: m.room.create", () => {
  describe("state-independent checks", () => runCases(cases.map((c) => ({ ...c, check: "independent" }))));
  describe("state-dependent checks judge the create event the same way", () => runCases(cases));

  describe("the create event of a freshly built room", () => {
    for (const version of ALL_VERSIONS) {
      it(`create: the room's own create event passes [v${version.id}]`, () => {
        const room = standardRoom(version);
        expectDecision(room.checkIndependent(room.create), "allow");
        expect(room.create.pdu.room_id === undefined).to.equal(version.roomIdFromCreateEvent);
      });
    }
  });
});
