// Power level parsing (power-levels.ts) and the m.room.power_levels auth rules.
import { expect } from "chai";
import type { JsonObject, JsonValue } from "../../../../server/protocol/json.ts";
import {
  parsePowerLevelValue,
  parsePowerLevels,
  requiredPowerForEvent,
  userPowerLevel,
} from "../../../../server/protocol/power-levels.ts";
import {
  ALICE,
  ALL_VERSIONS,
  type AuthCase,
  BOB,
  CAROL,
  DAVE,
  type TestRoom,
  deny,
  from,
  runCases,
  standardRoom,
  upTo,
} from "./room-builder.ts";

// ------------------------------------------------------------ value parsing

interface ValueCase {
  value: JsonValue;
  /** Expected level before v10 (stringy/floaty rules) and from v10 (integers only); null = not a level. */
  legacy: number | null;
  integer: number | null;
}
const valueCases: ValueCase[] = [
  { value: 100, legacy: 100, integer: 100 },
  { value: -5, legacy: -5, integer: -5 },
  { value: 0, legacy: 0, integer: 0 },
  { value: "100", legacy: 100, integer: null },
  { value: "000100", legacy: 100, integer: null },
  { value: "+100", legacy: 100, integer: null },
  { value: "-100", legacy: -100, integer: null },
  { value: " 100 ", legacy: 100, integer: null },
  { value: " 00100 ", legacy: 100, integer: null },
  { value: " +100 ", legacy: 100, integer: null },
  { value: "\t-7\n", legacy: -7, integer: null },
  { value: "-0", legacy: 0, integer: null },
  { value: "1.5", legacy: null, integer: null },
  { value: "1e3", legacy: null, integer: null },
  { value: "", legacy: null, integer: null },
  { value: "+-1", legacy: null, integer: null },
  { value: "1 0", legacy: null, integer: null },
  { value: "abc", legacy: null, integer: null },
  { value: 50.57, legacy: 50, integer: null },
  { value: -50.57, legacy: -50, integer: null },
  { value: 5.114698e4, legacy: 51146, integer: null },
  { value: true, legacy: null, integer: null },
  { value: null, legacy: null, integer: null },
  { value: [1], legacy: null, integer: null },
  { value: { level: 1 }, legacy: null, integer: null },
];

describe("power levels: parsePowerLevelValue", () => {
  for (const version of ALL_VERSIONS) {
    for (const c of valueCases) {
      const expected = version.integerPowerLevels ? c.integer : c.legacy;
      it(`parse ${JSON.stringify(c.value)} → ${expected} [v${version.id}]`, () => {
        const got = parsePowerLevelValue(c.value, version);
        expect(got).to.equal(expected);
        if (got !== null) expect(Object.is(got, -0), "no negative zero").to.equal(false);
      });
    }
  }
});

describe("power levels: defaults, user levels and required levels", () => {
  for (const version of ALL_VERSIONS) {
    const room = standardRoom(version, { powerLevels: null });
    it(`defaults without an event [v${version.id}]`, () => {
      const pl = parsePowerLevels(undefined, version);
      expect(pl.present).to.equal(false);
      expect([pl.usersDefault, pl.eventsDefault, pl.stateDefault, pl.ban, pl.kick, pl.redact, pl.invite]).to.deep.equal([
        0, 0, 50, 50, 50, 50, 0,
      ]);
      expect(requiredPowerForEvent("m.room.topic", "", pl)).to.equal(50);
      expect(requiredPowerForEvent("m.room.message", undefined, pl)).to.equal(0);
    });
    it(`no power levels event: creator ${version.privilegedCreators ? "infinite" : "100"}, others 0 [v${version.id}]`, () => {
      const pl = parsePowerLevels(undefined, version);
      expect(userPowerLevel(ALICE, pl, room.create, version)).to.equal(version.privilegedCreators ? Infinity : 100);
      expect(userPowerLevel(BOB, pl, room.create, version)).to.equal(0);
    });
    it(`with a power levels event: users, then users_default; creator only special in v12 [v${version.id}]`, () => {
      const pl = parsePowerLevels({ users: { [BOB]: 75 }, users_default: 3 }, version);
      expect(userPowerLevel(BOB, pl, room.create, version)).to.equal(75);
      expect(userPowerLevel(CAROL, pl, room.create, version)).to.equal(3);
      expect(userPowerLevel(ALICE, pl, room.create, version)).to.equal(version.privilegedCreators ? Infinity : 3);
    });
    it(`unreadable values fall back to defaults when reading state [v${version.id}]`, () => {
      const pl = parsePowerLevels({ ban: "lots", events: { "m.x": true, "m.y": 7 }, users: { [BOB]: null } }, version);
      expect(pl.ban).to.equal(50);
      expect(requiredPowerForEvent("m.x", "", pl)).to.equal(50);
      expect(requiredPowerForEvent("m.y", undefined, pl)).to.equal(7);
      expect(userPowerLevel(BOB, pl, room.create, version)).to.equal(0);
    });
    it(`the creator is content.creator before v11, the sender from v11 [v${version.id}]`, () => {
      const other = standardRoom(version, { powerLevels: null, createContent: { creator: BOB } });
      const pl = parsePowerLevels(undefined, version);
      const aliceLevel = version.privilegedCreators ? Infinity : 100;
      expect(userPowerLevel(ALICE, pl, other.create, version)).to.equal(version.implicitRoomCreator ? aliceLevel : 0);
      expect(userPowerLevel(BOB, pl, other.create, version)).to.equal(version.implicitRoomCreator ? 0 : 100);
    });
    it(`additional_creators are infinitely powerful only in v12 [v${version.id}]`, () => {
      const other = standardRoom(version, { createContent: { additional_creators: [CAROL] } });
      const pl = parsePowerLevels({ users: {} }, version);
      expect(userPowerLevel(CAROL, pl, other.create, version)).to.equal(version.privilegedCreators ? Infinity : 0);
    });
  }
});

// ------------------------------------------------------ m.room.power_levels

/** Bob (level 50 unless the case says otherwise) sends power levels; PL events need only 0 so the change rules decide. */
const plEvent = (room: TestRoom, content: JsonObject, sender = BOB) =>
  room.event({ type: "m.room.power_levels", stateKey: "", sender, content });

/** Current levels: Bob 50, Carol 50, Dave 20; the PL event itself requires 0. */
const mods = {
  powerLevels: { events: { "m.room.power_levels": 0 } },
  users: { [BOB]: 50, [CAROL]: 50, [DAVE]: 20 },
  members: { [BOB]: "join", [CAROL]: "join", [DAVE]: "join" },
};
/** The current users map of `mods` for the room's version (Alice is listed before v12 only). */
const usersOf = (r: TestRoom, changes: JsonObject = {}): JsonObject => ({
  ...(r.version.privilegedCreators ? {} : { [ALICE]: 100 }),
  [BOB]: 50,
  [CAROL]: 50,
  [DAVE]: 20,
  ...changes,
});
const withMods = (r: TestRoom, extra: JsonObject = {}, users: JsonObject = {}): JsonObject => ({
  events: { "m.room.power_levels": 0 },
  users: usersOf(r, users),
  ...extra,
});

const plCases: AuthCase[] = [
  // -- shape
  {
    name: "power_levels: the first power levels event needs no comparison",
    room: { powerLevels: null },
    event: (r) => plEvent(r, { users: { [BOB]: 1000 }, ban: 1000 }, ALICE),
    expect: "allow",
  },
  {
    name: "power_levels.users: users key that is not a user id",
    room: mods,
    event: (r) => plEvent(r, withMods(r, {}, { "#room:b.example": 10 })),
    expect: deny("power_levels.users"),
  },
  {
    name: "power_levels.users: users key without a server name",
    room: mods,
    event: (r) => plEvent(r, withMods(r, {}, { "@nobody": 10 })),
    expect: deny("power_levels.users"),
  },
  {
    name: "power_levels.users: users that is not an object",
    room: mods,
    event: (r) => plEvent(r, { ...withMods(r), users: [BOB] }),
    expect: deny("power_levels.users"),
  },
  {
    name: "power_levels.users: a user's level that is not an integer string",
    room: mods,
    event: (r) => plEvent(r, withMods(r, {}, { [DAVE]: "twenty" })),
    expect: deny("power_levels.users"),
  },
  {
    name: "power_levels.users: a string level is refused from v10",
    versions: from(10),
    room: mods,
    event: (r) => plEvent(r, withMods(r, {}, { [DAVE]: "20" })),
    expect: deny("power_levels.users"),
  },
  {
    name: "power_levels.users: a string level is accepted before v10",
    versions: upTo(9),
    room: mods,
    event: (r) => plEvent(r, withMods(r, {}, { [DAVE]: "20", [BOB]: " 50" })),
    expect: "allow",
  },
  {
    name: "power_levels.not_integer: string ban level (v10+)",
    versions: from(10),
    room: mods,
    event: (r) => plEvent(r, withMods(r, { ban: "50" })),
    expect: deny("power_levels.not_integer"),
  },
  {
    name: "power_levels.not_integer: float kick level (v10+)",
    versions: from(10),
    room: mods,
    event: (r) => plEvent(r, withMods(r, { kick: 49.5 })),
    expect: deny("power_levels.not_integer"),
  },
  {
    name: "power_levels.not_integer: null users_default (v10+)",
    versions: from(10),
    room: mods,
    event: (r) => plEvent(r, withMods(r, { users_default: null })),
    expect: deny("power_levels.not_integer"),
  },
  {
    name: "power_levels.not_integer: string value in events (v10+)",
    versions: from(10),
    room: mods,
    event: (r) => plEvent(r, withMods(r, { events: { "m.room.power_levels": "0" } })),
    expect: deny("power_levels.not_integer"),
  },
  {
    name: "power_levels.not_integer: events that is not an object (v10+)",
    versions: from(10),
    room: mods,
    event: (r) => plEvent(r, withMods(r, { events: 0 })),
    expect: deny("power_levels.not_integer"),
  },
  {
    name: "power_levels.not_integer: string value in notifications (v10+)",
    versions: from(10),
    room: mods,
    event: (r) => plEvent(r, withMods(r, { notifications: { room: "50" } })),
    expect: deny("power_levels.not_integer"),
  },
  {
    name: "power_levels: string scalar levels accepted before v10",
    versions: upTo(9),
    room: mods,
    event: (r) => plEvent(r, withMods(r, { ban: "50", kick: "+50", events: { "m.room.power_levels": "0" } })),
    expect: "allow",
  },
  {
    name: "power_levels.invalid_value: an unreadable scalar level before v10",
    versions: upTo(9),
    room: mods,
    event: (r) => plEvent(r, withMods(r, { redact: "fifty" })),
    expect: deny("power_levels.invalid_value"),
  },
  {
    name: "power_levels.invalid_value: events that is not an object before v10",
    versions: upTo(9),
    room: mods,
    event: (r) => plEvent(r, withMods(r, { events: "m.room.message" })),
    expect: deny("power_levels.invalid_value"),
  },
  // -- the sender's own power
  {
    name: "sender.not_joined: power levels from a non-member",
    room: { ...mods, members: { [BOB]: "leave" } },
    event: (r) => plEvent(r, withMods(r)),
    expect: deny("sender.not_joined"),
  },
  {
    name: "event.power: power levels below the level the current events map asks for",
    room: { powerLevels: { events: { "m.room.power_levels": 51 } }, users: { [BOB]: 50 }, members: { [BOB]: "join" } },
    event: (r) => plEvent(r, { users: usersOf(r), events: { "m.room.power_levels": 51 } }),
    expect: deny("event.power"),
  },
  // -- scalar changes
  {
    name: "power_levels.scalar: raising ban above one's own level",
    room: mods,
    event: (r) => plEvent(r, withMods(r, { ban: 60 })),
    expect: deny("power_levels.scalar"),
  },
  {
    name: "power_levels.scalar: changing a level that is above one's own",
    room: { ...mods, powerLevels: { ...mods.powerLevels, kick: 75 } },
    event: (r) => plEvent(r, withMods(r, { kick: 10 })),
    expect: deny("power_levels.scalar"),
  },
  {
    name: "power_levels.scalar: removing a level that is above one's own",
    room: { ...mods, powerLevels: { ...mods.powerLevels, state_default: 75 } },
    event: (r) => plEvent(r, withMods(r)),
    expect: deny("power_levels.scalar"),
  },
  {
    name: "power_levels.scalar: adding users_default above one's own",
    room: mods,
    event: (r) => plEvent(r, withMods(r, { users_default: 51 })),
    expect: deny("power_levels.scalar"),
  },
  {
    name: "power_levels: setting a level equal to one's own",
    room: mods,
    event: (r) => plEvent(r, withMods(r, { invite: 50, redact: 50 })),
    expect: "allow",
  },
  {
    name: "power_levels: an unchanged level above one's own is fine",
    room: { ...mods, powerLevels: { ...mods.powerLevels, ban: 99 } },
    event: (r) => plEvent(r, withMods(r, { ban: 99, invite: 10 })),
    expect: "allow",
  },
  {
    name: "power_levels: \"99\" → 99 is not a change (v1–v9)",
    versions: upTo(9),
    room: { ...mods, powerLevels: { ...mods.powerLevels, ban: "99" } },
    event: (r) => plEvent(r, withMods(r, { ban: 99 })),
    expect: "allow",
  },
  // -- events and notifications
  {
    name: "power_levels.events: adding an event level above one's own",
    room: mods,
    event: (r) => plEvent(r, withMods(r, { events: { "m.room.power_levels": 0, "m.room.name": 51 } })),
    expect: deny("power_levels.events"),
  },
  {
    name: "power_levels.events: changing an event level that is above one's own",
    room: { ...mods, powerLevels: { events: { "m.room.power_levels": 0, "m.room.tombstone": 100 } } },
    event: (r) => plEvent(r, withMods(r, { events: { "m.room.power_levels": 0, "m.room.tombstone": 0 } })),
    expect: deny("power_levels.events"),
  },
  {
    name: "power_levels.events: removing an event level that is above one's own",
    room: { ...mods, powerLevels: { events: { "m.room.power_levels": 0, "m.room.tombstone": 100 } } },
    event: (r) => plEvent(r, withMods(r)),
    expect: deny("power_levels.events"),
  },
  {
    name: "power_levels.events: changing an event level at one's own level",
    room: { ...mods, powerLevels: { events: { "m.room.power_levels": 0, "m.room.name": 50 } } },
    event: (r) => plEvent(r, withMods(r, { events: { "m.room.power_levels": 0, "m.room.name": 10 } })),
    expect: "allow",
  },
  {
    name: "power_levels.notifications: raising @room above one's own (v6+)",
    versions: from(6),
    room: mods,
    event: (r) => plEvent(r, withMods(r, { notifications: { room: 100 } })),
    expect: deny("power_levels.notifications"),
  },
  {
    name: "power_levels.notifications: lowering a notification level above one's own (v6+)",
    versions: from(6),
    room: { ...mods, powerLevels: { ...mods.powerLevels, notifications: { room: 100 } } },
    event: (r) => plEvent(r, withMods(r, { notifications: { room: 0 } })),
    expect: deny("power_levels.notifications"),
  },
  {
    name: "power_levels.notifications: not checked before v6",
    versions: upTo(5),
    room: mods,
    event: (r) => plEvent(r, withMods(r, { notifications: { room: 100 } })),
    expect: "allow",
  },
  {
    name: "power_levels.notifications: a level at one's own (v6+)",
    versions: from(6),
    room: mods,
    event: (r) => plEvent(r, withMods(r, { notifications: { room: 50 } })),
    expect: "allow",
  },
  // -- users
  {
    name: "power_levels.users_new: granting a level above one's own",
    room: mods,
    event: (r) => plEvent(r, withMods(r, {}, { [DAVE]: 51 })),
    expect: deny("power_levels.users_new"),
  },
  {
    name: "power_levels.users_new: raising oneself",
    room: mods,
    event: (r) => plEvent(r, withMods(r, {}, { [BOB]: 51 })),
    expect: deny("power_levels.users_new"),
  },
  {
    name: "power_levels: granting a level equal to one's own",
    room: mods,
    event: (r) => plEvent(r, withMods(r, {}, { [DAVE]: 50 })),
    expect: "allow",
  },
  {
    name: "power_levels: adding a new user below one's own",
    room: mods,
    event: (r) => plEvent(r, withMods(r, {}, { "@new:n.example": 10 })),
    expect: "allow",
  },
  {
    name: "power_levels.users_current: demoting a peer at one's own level",
    room: mods,
    event: (r) => plEvent(r, withMods(r, {}, { [CAROL]: 0 })),
    expect: deny("power_levels.users_current"),
  },
  {
    name: "power_levels.users_current: removing a peer at one's own level",
    room: mods,
    event: (r) => {
      const users = usersOf(r);
      delete users[CAROL];
      return plEvent(r, { events: { "m.room.power_levels": 0 }, users });
    },
    expect: deny("power_levels.users_current"),
  },
  {
    name: "power_levels.users_current: changing a more powerful user (v1–v11: the creator at 100)",
    versions: upTo(11),
    room: mods,
    event: (r) => plEvent(r, withMods(r, {}, { [ALICE]: 40 })),
    expect: deny("power_levels.users_current"),
  },
  {
    name: "power_levels: demoting oneself",
    room: mods,
    event: (r) => plEvent(r, withMods(r, {}, { [BOB]: 0 })),
    expect: "allow",
  },
  {
    name: "power_levels: demoting a lower user",
    room: mods,
    event: (r) => plEvent(r, withMods(r, {}, { [DAVE]: 0 })),
    expect: "allow",
  },
  {
    name: "power_levels: removing a lower user",
    room: mods,
    event: (r) => {
      const users = usersOf(r);
      delete users[DAVE];
      return plEvent(r, { events: { "m.room.power_levels": 0 }, users });
    },
    expect: "allow",
  },
  {
    name: "power_levels: the creator may change anything (v1–v11 at 100, v12 infinite)",
    room: mods,
    event: (r) => plEvent(r, { ...withMods(r, { ban: 100, state_default: 100 }, { [BOB]: 0, [CAROL]: 99 }) }, ALICE),
    expect: "allow",
  },
  {
    name: "power_levels.users_new: the creator cannot grant above 100 before v12",
    versions: upTo(11),
    room: mods,
    event: (r) => plEvent(r, withMods(r, {}, { [BOB]: 101 }), ALICE),
    expect: deny("power_levels.users_new"),
  },
  {
    name: "power_levels: a v12 creator may grant any level",
    versions: from(12),
    room: mods,
    event: (r) => plEvent(r, withMods(r, { ban: 1_000_000 }, { [BOB]: 9_000_000 }), ALICE),
    expect: "allow",
  },
];

describe("auth rules: m.room.power_levels", () => {
  runCases(plCases);
});
