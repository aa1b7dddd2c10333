// Auth events selection and the state-independent checks on `auth_events`
// (rule 2 of v1–v11, rules 2–3 of v12).
import { expect } from "chai";
import { authEventTypes } from "../../../../server/protocol/auth-events-selection.ts";
import { checkStateIndependentAuthRules } from "../../../../server/protocol/auth-rules.ts";
import { stateTuple } from "../../../../server/protocol/events.ts";
import { getRoomVersion, type RoomVersion } from "../../../../server/protocol/room-versions.ts";
import {
  ALICE,
  ALL_VERSIONS,
  type AuthCase,
  BOB,
  CAROL,
  type TestRoom,
  all,
  deny,
  from,
  runCases,
  standardRoom,
  upTo,
} from "./room-builder.ts";

const id = (room: TestRoom, type: string, stateKey: string): string => {
  const event = room.state.get(stateTuple(type, stateKey));
  if (!event) throw new Error(`no ${type}/${stateKey} in test room`);
  return event.eventId;
};

const message = (room: TestRoom, authEventIds?: string[]) =>
  room.event({ type: "m.room.message", sender: BOB, content: { body: "hi" }, authEventIds });

const cases: AuthCase[] = [
  {
    name: "auth_events: message citing exactly the selected events is allowed",
    room: { members: { [BOB]: "join" } },
    event: (r) => message(r),
    expect: "allow",
  },
  {
    name: "auth_events: citing a subset of the selection is allowed",
    room: { members: { [BOB]: "join" } },
    event: (r) => message(r, r.version.roomIdFromCreateEvent ? [] : [id(r, "m.room.create", "")]),
    expect: "allow",
  },
  {
    name: "auth_events.duplicate: two events for the same (type, state_key)",
    room: { members: { [BOB]: "join" } },
    given: (r) => void r.powerLevels({ users: {} }),
    event: (r) => {
      const older = [...r.events.values()].find((e) => e.type === "m.room.power_levels")!.eventId;
      return message(r, [...message(r).authEventIds, older]);
    },
    expect: deny("auth_events.duplicate"),
  },
  {
    name: "auth_events.duplicate: the same event cited twice",
    room: { members: { [BOB]: "join" } },
    event: (r) => message(r, [id(r, "m.room.power_levels", ""), ...message(r).authEventIds]),
    expect: deny("auth_events.duplicate"),
  },
  {
    name: "auth_events.unexpected: join rules cited by a message",
    room: { members: { [BOB]: "join" } },
    event: (r) => message(r, [...message(r).authEventIds, id(r, "m.room.join_rules", "")]),
    expect: deny("auth_events.unexpected"),
  },
  {
    name: "auth_events.unexpected: another user's membership cited by a message",
    room: { members: { [BOB]: "join", [CAROL]: "join" } },
    event: (r) => message(r, [...message(r).authEventIds, id(r, "m.room.member", CAROL)]),
    expect: deny("auth_events.unexpected"),
  },
  {
    name: "auth_events.unexpected: a non-state event cited",
    room: { members: { [BOB]: "join" } },
    event: (r) => {
      const earlier = r.put({ type: "m.room.message", sender: BOB, content: { body: "x" } });
      return message(r, [...message(r).authEventIds, earlier.eventId]);
    },
    expect: deny("auth_events.unexpected"),
  },
  {
    name: "auth_events.unexpected: the create event cited in v12",
    versions: from(12),
    room: { members: { [BOB]: "join" } },
    event: (r) => message(r, [...message(r).authEventIds, r.create.eventId]),
    expect: deny("auth_events.unexpected"),
  },
  {
    name: "auth_events.unexpected: join_authorised_via_users_server member cited before v8",
    versions: upTo(7),
    room: { joinRule: "public", members: { [CAROL]: "join" } },
    event: (r) =>
      r.event({
        type: "m.room.member",
        stateKey: BOB,
        sender: BOB,
        content: { membership: "join", join_authorised_via_users_server: CAROL },
        authEventIds: [
          id(r, "m.room.create", ""),
          id(r, "m.room.power_levels", ""),
          id(r, "m.room.join_rules", ""),
          id(r, "m.room.member", CAROL),
        ],
      }),
    expect: deny("auth_events.unexpected"),
  },
  {
    name: "auth_events: join_authorised_via_users_server member may be cited from v8",
    versions: from(8),
    room: { joinRule: "restricted", members: { [CAROL]: "join" } },
    event: (r) =>
      r.event({
        type: "m.room.member",
        stateKey: BOB,
        sender: BOB,
        content: { membership: "join", join_authorised_via_users_server: CAROL },
      }),
    expect: "allow",
  },
  {
    name: "auth_events: third-party invite cites the m.room.third_party_invite by token",
    room: { members: { [CAROL]: "join" } },
    given: (r) =>
      void r.put({ type: "m.room.third_party_invite", stateKey: "tok", sender: CAROL, content: { public_key: "AAAA" } }),
    event: (r) =>
      r.event({
        type: "m.room.member",
        stateKey: BOB,
        sender: CAROL,
        content: { membership: "invite", third_party_invite: { signed: { mxid: BOB, token: "tok", signatures: {} } } },
      }),
    expect: "allow",
  },
  {
    name: "auth_events.no_create: no m.room.create among the auth events (v1–v11)",
    versions: upTo(11),
    room: { members: { [BOB]: "join" } },
    event: (r) => message(r, message(r).authEventIds.filter((e) => e !== r.create.eventId)),
    expect: deny("auth_events.no_create"),
  },
  {
    name: "auth_events.wrong_room: an auth event from another room",
    room: { members: { [BOB]: "join" } },
    event: (r) => {
      const foreign = r.event({
        type: "m.room.power_levels",
        stateKey: "",
        sender: ALICE,
        content: {},
        roomId: "!other:a.example",
      });
      r.events.set(foreign.eventId, foreign);
      const own = message(r).authEventIds.filter((e) => e !== id(r, "m.room.power_levels", ""));
      return message(r, [...own, foreign.eventId]);
    },
    expect: deny("auth_events.wrong_room"),
  },
  {
    name: "auth_events.missing: a cited auth event was not supplied",
    room: { members: { [BOB]: "join" } },
    event: (r) => message(r, [...message(r).authEventIds.slice(1), "$unknown"]),
    expect: deny("auth_events.missing"),
  },
  {
    name: "room_id.not_create_event: v12 room id that names another event",
    versions: from(12),
    room: { members: { [BOB]: "join" } },
    event: (r) => r.event({ type: "m.room.message", sender: BOB, content: {}, roomId: `!${id(r, "m.room.join_rules", "").slice(1)}` }),
    expect: deny("room_id.not_create_event"),
  },
];

describe("auth rules: auth_events", () => {
  runCases(cases.map((c) => ({ ...c, check: "independent" as const })));

  describe("v12 room id and create event", () => {
    const v12 = getRoomVersion("12")!;
    it("room_id.not_create_event: no create event supplied [v12]", () => {
      const room = standardRoom(v12, { members: { [BOB]: "join" } });
      const event = message(room);
      const authEvents = event.authEventIds.map((e) => room.events.get(e)!);
      expect(checkStateIndependentAuthRules(event, authEvents, v12)).to.deep.include({ rule: "room_id.not_create_event" });
      expect(checkStateIndependentAuthRules(event, authEvents, v12, room.create)).to.deep.equal({ allowed: true });
      const notCreate = authEvents[0]!;
      expect(checkStateIndependentAuthRules(event, authEvents, v12, { ...room.create, type: notCreate.type })).to.deep.include({
        rule: "room_id.not_create_event",
      });
    });
  });

  describe("authEventTypes", () => {
    const key = (pairs: readonly (readonly [string, string])[]) => pairs.map(([t, s]) => `${t}|${s}`).sort();
    const create = (v: RoomVersion) => (v.roomIdFromCreateEvent ? [] : [["m.room.create", ""] as const]);
    const base = (v: RoomVersion, sender: string) => [...create(v), ["m.room.power_levels", ""] as const, ["m.room.member", sender] as const];

    interface SelectionCase {
      name: string;
      versions?: (v: RoomVersion) => boolean;
      event: { type: string; stateKey?: string; sender: string; content: Record<string, unknown> };
      expected: (v: RoomVersion) => (readonly [string, string])[];
    }
    const selectionCases: SelectionCase[] = [
      { name: "create event selects nothing", event: { type: "m.room.create", stateKey: "", sender: ALICE, content: {} }, expected: () => [] },
      { name: "message: create (not v12), power levels, sender", event: { type: "m.room.message", sender: BOB, content: {} }, expected: (v) => base(v, BOB) },
      {
        name: "state event: same as a message",
        event: { type: "m.room.topic", stateKey: "", sender: BOB, content: {} },
        expected: (v) => base(v, BOB),
      },
      {
        name: "join: target member and join rules, target = sender deduplicated",
        event: { type: "m.room.member", stateKey: BOB, sender: BOB, content: { membership: "join" } },
        expected: (v) => [...base(v, BOB), ["m.room.join_rules", ""]],
      },
      {
        name: "invite: target member and join rules",
        event: { type: "m.room.member", stateKey: CAROL, sender: BOB, content: { membership: "invite" } },
        expected: (v) => [...base(v, BOB), ["m.room.member", CAROL], ["m.room.join_rules", ""]],
      },
      {
        name: "knock: join rules selected",
        event: { type: "m.room.member", stateKey: BOB, sender: BOB, content: { membership: "knock" } },
        expected: (v) => [...base(v, BOB), ["m.room.join_rules", ""]],
      },
      {
        name: "leave/ban: no join rules",
        event: { type: "m.room.member", stateKey: CAROL, sender: BOB, content: { membership: "ban" } },
        expected: (v) => [...base(v, BOB), ["m.room.member", CAROL]],
      },
      {
        name: "third-party invite: the invite event by token",
        event: {
          type: "m.room.member",
          stateKey: CAROL,
          sender: BOB,
          content: { membership: "invite", third_party_invite: { signed: { token: "abc", mxid: CAROL } } },
        },
        expected: (v) => [...base(v, BOB), ["m.room.member", CAROL], ["m.room.join_rules", ""], ["m.room.third_party_invite", "abc"]],
      },
      {
        name: "restricted join: the authoriser's membership from v8",
        event: { type: "m.room.member", stateKey: BOB, sender: BOB, content: { membership: "join", join_authorised_via_users_server: CAROL } },
        expected: (v) => [...base(v, BOB), ["m.room.join_rules", ""], ...(v.restrictedJoins ? [["m.room.member", CAROL] as const] : [])],
      },
      {
        name: "authoriser ignored for memberships other than join",
        event: { type: "m.room.member", stateKey: BOB, sender: BOB, content: { membership: "leave", join_authorised_via_users_server: CAROL } },
        expected: (v) => base(v, BOB),
      },
    ];
    for (const c of selectionCases) {
      for (const version of ALL_VERSIONS.filter(c.versions ?? all)) {
        it(`selection: ${c.name} [v${version.id}]`, () => {
          const got = authEventTypes({ ...c.event, stateKey: c.event.stateKey, content: c.event.content as never }, version);
          expect(key(got)).to.deep.equal(key(c.expected(version)));
          expect(new Set(key(got)).size, "no duplicates").to.equal(got.length);
        });
      }
    }
  });
});
