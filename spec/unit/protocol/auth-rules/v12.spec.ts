// Room version 12: room creators (sender + additional_creators) have infinite
// power and may not appear in power levels; the room id names the create event,
// which is no auth event. v11 is run alongside to show what v12 changed.
import { expect } from "chai";
import { checkStateIndependentAuthRules } from "../../../../server/protocol/auth-rules.ts";
import { getRoomVersion } from "../../../../server/protocol/room-versions.ts";
import { ALICE, type AuthCase, BOB, CAROL, DAVE, type TestRoom, deny, from, runCases, standardRoom } from "./room-builder.ts";

const v11: (v: { id: string }) => boolean = (v) => v.id === "11";
const member = (room: TestRoom, sender: string, target: string, membership: string) =>
  room.event({ type: "m.room.member", stateKey: target, sender, content: { membership } });

/** Carol is an additional creator; Bob is an admin at 100; Dave a user. */
const creators = {
  createContent: { additional_creators: [CAROL] },
  users: { [BOB]: 100 },
  members: { [BOB]: "join", [CAROL]: "join", [DAVE]: "join" },
};

const cases: AuthCase[] = [
  // -- infinite power
  {
    name: "creators: an additional creator kicks a level-100 admin (v12)",
    versions: from(12),
    room: creators,
    event: (r) => member(r, CAROL, BOB, "leave"),
    expect: "allow",
  },
  {
    name: "creators: additional_creators give no power in v11",
    versions: v11,
    room: creators,
    event: (r) => member(r, CAROL, BOB, "leave"),
    expect: deny("member.leave.kick_power"),
  },
  {
    name: "member.leave.kick_power: a level-100 admin cannot kick a creator (v12)",
    versions: from(12),
    room: creators,
    event: (r) => member(r, BOB, ALICE, "leave"),
    expect: deny("member.leave.kick_power"),
  },
  {
    name: "member.leave (kick): in v11 a level-101 admin kicks the creator (at 100)",
    versions: v11,
    room: { ...creators, users: { [BOB]: 101 } },
    event: (r) => member(r, BOB, ALICE, "leave"),
    expect: "allow",
  },
  {
    name: "member.leave.kick_power: in v12 no level is enough to kick the creator",
    versions: from(12),
    room: { ...creators, users: { [BOB]: 9_007_199_254_740_991 } },
    event: (r) => member(r, BOB, ALICE, "leave"),
    expect: deny("member.leave.kick_power"),
  },
  {
    name: "member.ban.power: a level-100 admin cannot ban an additional creator (v12)",
    versions: from(12),
    room: creators,
    event: (r) => member(r, BOB, CAROL, "ban"),
    expect: deny("member.ban.power"),
  },
  {
    name: "member.ban.power: one creator cannot ban another (both infinite) (v12)",
    versions: from(12),
    room: creators,
    event: (r) => member(r, CAROL, ALICE, "ban"),
    expect: deny("member.ban.power"),
  },
  {
    name: "member.ban: a creator bans a level-100 admin (v12)",
    versions: from(12),
    room: creators,
    event: (r) => member(r, ALICE, BOB, "ban"),
    expect: "allow",
  },
  {
    name: "event.power: an additional creator sends state without power levels (v12)",
    versions: from(12),
    room: { ...creators, powerLevels: null },
    event: (r) => r.event({ type: "m.room.name", stateKey: "", sender: CAROL, content: { name: "n" } }),
    expect: "allow",
  },
  {
    name: "event.power: creators pass any events level (v12)",
    versions: from(12),
    room: { ...creators, powerLevels: { events: { "m.room.tombstone": 9_007_199_254_740_991 } } },
    event: (r) => r.event({ type: "m.room.tombstone", stateKey: "", sender: CAROL, content: {} }),
    expect: "allow",
  },
  {
    name: "event.power: an additional creator is an ordinary user in v11",
    versions: v11,
    room: { ...creators, powerLevels: null },
    event: (r) => r.event({ type: "m.room.name", stateKey: "", sender: CAROL, content: { name: "n" } }),
    expect: deny("event.power"),
  },
  {
    name: "member.invite: creator invites despite an unreachable invite level (v12)",
    versions: from(12),
    room: { ...creators, powerLevels: { invite: 1_000_000 } },
    event: (r) => member(r, CAROL, "@new:n.example", "invite"),
    expect: "allow",
  },
  // -- creators in power levels
  {
    name: "power_levels.creator_in_users: the create event's sender listed (v12)",
    versions: from(12),
    room: creators,
    event: (r) => r.event({ type: "m.room.power_levels", stateKey: "", sender: ALICE, content: { users: { [ALICE]: 100 } } }),
    expect: deny("power_levels.creator_in_users"),
  },
  {
    name: "power_levels.creator_in_users: an additional creator listed (v12)",
    versions: from(12),
    room: creators,
    event: (r) => r.event({ type: "m.room.power_levels", stateKey: "", sender: ALICE, content: { users: { [CAROL]: 0 } } }),
    expect: deny("power_levels.creator_in_users"),
  },
  {
    name: "power_levels.creator_in_users: also for the first power levels event (v12)",
    versions: from(12),
    room: { ...creators, powerLevels: null },
    event: (r) => r.event({ type: "m.room.power_levels", stateKey: "", sender: ALICE, content: { users: { [ALICE]: 100 } } }),
    expect: deny("power_levels.creator_in_users"),
  },
  {
    name: "power_levels: listing the creator is fine in v11",
    versions: v11,
    room: creators,
    event: (r) => r.event({ type: "m.room.power_levels", stateKey: "", sender: ALICE, content: { users: { [ALICE]: 100, [BOB]: 100, [CAROL]: 0 } } }),
    expect: "allow",
  },
  {
    name: "power_levels: a creator demotes a level-100 admin (v12)",
    versions: from(12),
    room: creators,
    event: (r) => r.event({ type: "m.room.power_levels", stateKey: "", sender: CAROL, content: { users: { [BOB]: 0 } } }),
    expect: "allow",
  },
  {
    name: "power_levels.users_current: a level-100 admin cannot demote a level-100 peer (v12)",
    versions: from(12),
    room: { ...creators, users: { [BOB]: 100, [DAVE]: 100 } },
    event: (r) => r.event({ type: "m.room.power_levels", stateKey: "", sender: BOB, content: { users: { [BOB]: 100, [DAVE]: 0 } } }),
    expect: deny("power_levels.users_current"),
  },
];

describe("auth rules: room version 12 creators", () => {
  runCases(cases);

  const v12 = getRoomVersion("12")!;
  it("room id: v12 room id is the create event id with ! [v12]", () => {
    const room = standardRoom(v12);
    expect(room.roomId).to.equal(`!${room.create.eventId.slice(1)}`);
    expect(room.create.pdu).to.not.have.property("room_id");
  });
  it("auth events: a v12 event never cites the create event but passes [v12]", () => {
    const room = standardRoom(v12, { members: { [BOB]: "join" } });
    const event = room.event({ type: "m.room.message", sender: BOB, content: {} });
    expect(event.authEventIds).to.not.include(room.create.eventId);
    const authEvents = event.authEventIds.map((id) => room.events.get(id)!);
    expect(checkStateIndependentAuthRules(event, authEvents, v12, room.create)).to.deep.equal({ allowed: true });
    expect(room.check(event)).to.deep.equal({ allowed: true });
  });
  it("room_id.not_create_event: the create event of another v12 room [v12]", () => {
    const room = standardRoom(v12, { members: { [BOB]: "join" } });
    const other = standardRoom(v12, { creator: CAROL });
    const event = room.event({ type: "m.room.message", sender: BOB, content: {} });
    const authEvents = event.authEventIds.map((id) => room.events.get(id)!);
    expect(checkStateIndependentAuthRules(event, authEvents, v12, other.create)).to.deep.include({ rule: "room_id.not_create_event" });
  });
});
