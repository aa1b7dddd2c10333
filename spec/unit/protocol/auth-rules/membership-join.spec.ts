// m.room.member with membership "join", the rules shared by all memberships
// (state_key, membership, join_authorised_via_users_server signature) and m.federate.
import type { JsonObject } from "../../../../server/protocol/json.ts";
import type { RoomVersion } from "../../../../server/protocol/room-versions.ts";
import {
  ALICE,
  type AuthCase,
  BOB,
  CAROL,
  DAVE,
  TestRoom,
  deny,
  from,
  runCases,
  upTo,
} from "./room-builder.ts";

const join = (room: TestRoom, user: string, extra: JsonObject = {}, sender: string = user) =>
  room.event({ type: "m.room.member", stateKey: user, sender, content: { membership: "join", ...extra } });

/** A restricted join of Bob authorised by Carol, signed by both servers unless told otherwise. */
const authorisedJoin = (room: TestRoom, authoriser: string = CAROL, signers: string[] = ["b.example", "c.example"]) =>
  room.event({
    type: "m.room.member",
    stateKey: BOB,
    sender: BOB,
    content: { membership: "join", join_authorised_via_users_server: authoriser },
    signatures: Object.fromEntries(signers.map((s) => [s, { "ed25519:k": "c2ln" }])),
  });

/** A room with only the create event: the creator's first join is special. */
const freshRoom =
  (createContent: JsonObject = {}) =>
  (version: RoomVersion): TestRoom =>
    new TestRoom(version, { createContent });

const cases: AuthCase[] = [
  // -- the creator's first join
  {
    name: "member.join (creator): the creator's join right after the create event",
    build: freshRoom(),
    event: (r) => join(r, ALICE),
    expect: "allow",
  },
  {
    name: "member.join (creator): creator is content.creator, not the sender, before v11",
    versions: upTo(10),
    build: freshRoom({ creator: BOB }),
    event: (r) => join(r, BOB),
    expect: "allow",
  },
  {
    name: "member.join (creator): the create sender is no creator when content.creator names another (v1–v10)",
    versions: upTo(10),
    build: freshRoom({ creator: BOB }),
    event: (r) => join(r, ALICE),
    expect: deny("member.join.not_invited"),
  },
  {
    name: "member.join (creator): from v11 the create sender is the creator whatever content.creator says",
    versions: from(11),
    build: freshRoom({ creator: BOB }),
    event: (r) => join(r, ALICE),
    expect: "allow",
  },
  {
    name: "member.join (creator): a v12 additional creator gets no first-join exemption",
    versions: from(12),
    build: freshRoom({ additional_creators: [BOB] }),
    event: (r) => join(r, BOB),
    expect: deny("member.join.not_invited"),
  },
  {
    name: "member.join (creator): exemption needs the create event as the only prev event",
    build: freshRoom(),
    event: (r) => {
      r.put({ type: "m.room.message", sender: ALICE, content: {} });
      return join(r, ALICE);
    },
    expect: deny("member.join.not_invited"),
  },
  {
    name: "member.join (creator): prev events [create, other] are not 'only the create event'",
    build: freshRoom(),
    event: (r) => {
      const other = r.put({ type: "m.room.message", sender: ALICE, content: {} });
      return r.event({
        type: "m.room.member",
        stateKey: ALICE,
        sender: ALICE,
        content: { membership: "join" },
        prevEventIds: [r.create.eventId, other.eventId],
      });
    },
    expect: deny("member.join.not_invited"),
  },
  // -- ordinary joins
  {
    name: "member.join.sender_not_target: joining on behalf of someone else",
    event: (r) => join(r, BOB, {}, CAROL),
    expect: deny("member.join.sender_not_target"),
  },
  { name: "member.join (public): anyone may join", event: (r) => join(r, BOB), expect: "allow" },
  {
    name: "member.join (public): a joined member may re-join (profile change)",
    room: { members: { [BOB]: "join" } },
    event: (r) => join(r, BOB, { displayname: "Bob" }),
    expect: "allow",
  },
  {
    name: "member.join (public): a user who left may join again",
    room: { members: { [BOB]: "leave" } },
    event: (r) => join(r, BOB),
    expect: "allow",
  },
  {
    name: "member.join.banned: banned user cannot join a public room",
    room: { members: { [BOB]: "ban" } },
    event: (r) => join(r, BOB),
    expect: deny("member.join.banned"),
  },
  {
    name: "member.join.banned: banned user cannot join even when the join rule is invite",
    room: { joinRule: "invite", members: { [BOB]: "ban" } },
    event: (r) => join(r, BOB),
    expect: deny("member.join.banned"),
  },
  {
    name: "member.join (invite): an invited user may join",
    room: { joinRule: "invite", members: { [BOB]: "invite" } },
    event: (r) => join(r, BOB),
    expect: "allow",
  },
  {
    name: "member.join (invite): a joined user may update their membership",
    room: { joinRule: "invite", members: { [BOB]: "join" } },
    event: (r) => join(r, BOB, { displayname: "B" }),
    expect: "allow",
  },
  {
    name: "member.join.not_invited: invite-only room, never invited",
    room: { joinRule: "invite" },
    event: (r) => join(r, BOB),
    expect: deny("member.join.not_invited"),
  },
  {
    name: "member.join.not_invited: invite-only room, invite was rejected",
    room: { joinRule: "invite", members: { [BOB]: "leave" } },
    event: (r) => join(r, BOB),
    expect: deny("member.join.not_invited"),
  },
  {
    name: "member.join.not_invited: no join rules event reads as invite",
    room: { joinRule: null },
    event: (r) => join(r, BOB),
    expect: deny("member.join.not_invited"),
  },
  {
    name: "member.join (invite): no join rules event, invited user may join",
    room: { joinRule: null, members: { [BOB]: "invite" } },
    event: (r) => join(r, BOB),
    expect: "allow",
  },
  {
    name: "member.join (invite): join rules event without join_rule reads as invite",
    given: (r) => void r.put({ type: "m.room.join_rules", stateKey: "", sender: ALICE, content: {} }),
    room: { members: { [BOB]: "invite" } },
    event: (r) => join(r, BOB),
    expect: "allow",
  },
  {
    name: "member.join (knock): an invited user may join a knock room (v7+)",
    versions: from(7),
    room: { joinRule: "knock", members: { [BOB]: "invite" } },
    event: (r) => join(r, BOB),
    expect: "allow",
  },
  {
    name: "member.join.not_invited: knocking alone does not let one join (v7+)",
    versions: from(7),
    room: { joinRule: "knock", members: { [BOB]: "knock" } },
    event: (r) => join(r, BOB),
    expect: deny("member.join.not_invited"),
  },
  {
    name: "member.join.join_rule: the knock join rule is unknown before v7",
    versions: upTo(6),
    room: { joinRule: "knock", members: { [BOB]: "invite" } },
    event: (r) => join(r, BOB),
    expect: deny("member.join.join_rule"),
  },
  {
    name: "member.join.join_rule: private join rule admits nobody",
    room: { joinRule: "private", members: { [BOB]: "invite" } },
    event: (r) => join(r, BOB),
    expect: deny("member.join.join_rule"),
  },
  {
    name: "member.join.join_rule: a non-string join_rule admits nobody",
    given: (r) => void r.put({ type: "m.room.join_rules", stateKey: "", sender: ALICE, content: { join_rule: 1 } }),
    room: { members: { [BOB]: "invite" } },
    event: (r) => join(r, BOB),
    expect: deny("member.join.join_rule"),
  },
  // -- restricted and knock_restricted
  {
    name: "member.join (restricted): invited user may join without an authoriser (v8+)",
    versions: from(8),
    room: { joinRule: "restricted", members: { [BOB]: "invite" } },
    event: (r) => join(r, BOB),
    expect: "allow",
  },
  {
    name: "member.join (restricted): joined authoriser with invite power (v8+)",
    versions: from(8),
    room: { joinRule: "restricted", members: { [CAROL]: "join" } },
    event: (r) => authorisedJoin(r),
    expect: "allow",
  },
  {
    name: "member.join (restricted): the creator as authoriser with a high invite level (v8+)",
    versions: from(8),
    room: { joinRule: "restricted", powerLevels: { invite: 100 } },
    event: (r) => authorisedJoin(r, ALICE, ["b.example", "a.example"]),
    expect: "allow",
  },
  {
    name: "member.join.restricted_no_authoriser: restricted join without an authoriser (v8+)",
    versions: from(8),
    room: { joinRule: "restricted" },
    event: (r) => join(r, BOB),
    expect: deny("member.join.restricted_no_authoriser"),
  },
  {
    name: "member.join.restricted_authoriser_not_joined: authoriser has left (v8+)",
    versions: from(8),
    room: { joinRule: "restricted", members: { [CAROL]: "leave" } },
    event: (r) => authorisedJoin(r),
    expect: deny("member.join.restricted_authoriser_not_joined"),
  },
  {
    name: "member.join.restricted_authoriser_not_joined: authoriser only invited (v8+)",
    versions: from(8),
    room: { joinRule: "restricted", members: { [CAROL]: "invite" } },
    event: (r) => authorisedJoin(r),
    expect: deny("member.join.restricted_authoriser_not_joined"),
  },
  {
    name: "member.join.restricted_authoriser_power: authoriser below the invite level (v8+)",
    versions: from(8),
    room: { joinRule: "restricted", powerLevels: { invite: 50 }, users: { [CAROL]: 49 }, members: { [CAROL]: "join" } },
    event: (r) => authorisedJoin(r),
    expect: deny("member.join.restricted_authoriser_power"),
  },
  {
    name: "member.join (restricted): authoriser exactly at the invite level (v8+)",
    versions: from(8),
    room: { joinRule: "restricted", powerLevels: { invite: 50 }, users: { [CAROL]: 50 }, members: { [CAROL]: "join" } },
    event: (r) => authorisedJoin(r),
    expect: "allow",
  },
  {
    name: "member.join.banned: banned user cannot use a restricted join (v8+)",
    versions: from(8),
    room: { joinRule: "restricted", members: { [CAROL]: "join", [BOB]: "ban" } },
    event: (r) => authorisedJoin(r),
    expect: deny("member.join.banned"),
  },
  {
    name: "member.join.join_rule: restricted is unknown before v8",
    versions: upTo(7),
    room: { joinRule: "restricted", members: { [CAROL]: "join", [BOB]: "invite" } },
    event: (r) => join(r, BOB),
    expect: deny("member.join.join_rule"),
  },
  {
    name: "member.join (knock_restricted): authorised join (v10+)",
    versions: from(10),
    room: { joinRule: "knock_restricted", members: { [CAROL]: "join" } },
    event: (r) => authorisedJoin(r),
    expect: "allow",
  },
  {
    name: "member.join (knock_restricted): invited user (v10+)",
    versions: from(10),
    room: { joinRule: "knock_restricted", members: { [BOB]: "invite" } },
    event: (r) => join(r, BOB),
    expect: "allow",
  },
  {
    name: "member.join.restricted_no_authoriser: knock_restricted without invite or authoriser (v10+)",
    versions: from(10),
    room: { joinRule: "knock_restricted", members: { [BOB]: "knock" } },
    event: (r) => join(r, BOB),
    expect: deny("member.join.restricted_no_authoriser"),
  },
  {
    name: "member.join.join_rule: knock_restricted is unknown before v10",
    versions: upTo(9),
    room: { joinRule: "knock_restricted", members: { [BOB]: "invite" } },
    event: (r) => join(r, BOB),
    expect: deny("member.join.join_rule"),
  },
  // -- join_authorised_via_users_server signature (v8+, any membership)
  {
    name: "member.authoriser_signature: not signed by the authoriser's server (v8+)",
    versions: from(8),
    room: { joinRule: "restricted", members: { [CAROL]: "join" } },
    event: (r) => authorisedJoin(r, CAROL, ["b.example"]),
    expect: deny("member.authoriser_signature"),
  },
  {
    name: "member.authoriser_signature: empty signature block from the authoriser's server (v8+)",
    versions: from(8),
    room: { joinRule: "public", members: { [CAROL]: "join" } },
    event: (r) =>
      r.event({
        type: "m.room.member",
        stateKey: BOB,
        sender: BOB,
        content: { membership: "join", join_authorised_via_users_server: CAROL },
        signatures: { "b.example": { "ed25519:k": "c2ln" }, "c.example": {} },
      }),
    expect: deny("member.authoriser_signature"),
  },
  {
    name: "member.authoriser_signature: authoriser that is not a user id (v8+)",
    versions: from(8),
    room: { joinRule: "public" },
    event: (r) => join(r, BOB, { join_authorised_via_users_server: 42 }),
    expect: deny("member.authoriser_signature"),
  },
  {
    name: "member.authoriser_signature: checked for memberships other than join too (v8+)",
    versions: from(8),
    room: { members: { [BOB]: "join" } },
    event: (r) =>
      r.event({ type: "m.room.member", stateKey: BOB, sender: BOB, content: { membership: "leave", join_authorised_via_users_server: CAROL } }),
    expect: deny("member.authoriser_signature"),
  },
  {
    name: "member.join (public): join_authorised_via_users_server means nothing before v8",
    versions: upTo(7),
    room: { joinRule: "public" },
    event: (r) => join(r, BOB, { join_authorised_via_users_server: CAROL }),
    expect: "allow",
  },
  // -- malformed member events
  {
    name: "member.no_state_key: member event without state_key",
    event: (r) => r.event({ type: "m.room.member", sender: BOB, content: { membership: "join" } }),
    expect: deny("member.no_state_key"),
  },
  {
    name: "member.no_membership: content without membership",
    event: (r) => r.event({ type: "m.room.member", stateKey: BOB, sender: BOB, content: {} }),
    expect: deny("member.no_membership"),
  },
  {
    name: "member.unknown_membership: membership 'foo'",
    room: { members: { [BOB]: "join" } },
    event: (r) => r.event({ type: "m.room.member", stateKey: BOB, sender: BOB, content: { membership: "foo" } }),
    expect: deny("member.unknown_membership"),
  },
  {
    name: "member.unknown_membership: membership that is not a string",
    room: { members: { [BOB]: "join" } },
    event: (r) => r.event({ type: "m.room.member", stateKey: BOB, sender: BOB, content: { membership: ["join"] } }),
    expect: deny("member.unknown_membership"),
  },
  {
    name: "member.unknown_membership: knock before v7",
    versions: upTo(6),
    room: { joinRule: "knock" },
    event: (r) => r.event({ type: "m.room.member", stateKey: BOB, sender: BOB, content: { membership: "knock" } }),
    expect: deny("member.unknown_membership"),
  },
  // -- m.federate
  {
    name: "create.federate: remote user cannot join a non-federating room",
    room: { createContent: { "m.federate": false } },
    event: (r) => join(r, BOB),
    expect: deny("create.federate"),
  },
  {
    name: "create.federate: local user may join a non-federating room",
    room: { createContent: { "m.federate": false } },
    event: (r) => join(r, DAVE),
    expect: "allow",
  },
  {
    name: "create.federate: only the boolean false restricts federation",
    room: { createContent: { "m.federate": "false" } },
    event: (r) => join(r, BOB),
    expect: "allow",
  },
  {
    name: "state.no_create: no create event in the state",
    event: (r) => {
      r.state.clear();
      return join(r, BOB);
    },
    expect: deny("state.no_create"),
  },
];

describe("auth rules: membership join", () => {
  runCases(cases);
});
