// Rules for events other than m.room.member and m.room.power_levels: sender
// membership, m.room.third_party_invite, required power level, @-state keys,
// m.room.aliases (v1–v5), m.room.redaction (v1–v2) and m.federate.
import { ALICE, type AuthCase, BOB, CAROL, DAVE, type TestRoom, deny, from, runCases, upTo } from "./room-builder.ts";

const message = (room: TestRoom, sender: string, type = "m.room.message") =>
  room.event({ type, sender, content: { body: "hello" } });
const stateEvent = (room: TestRoom, sender: string, type = "m.room.topic", stateKey = "") =>
  room.event({ type, stateKey, sender, content: { topic: "t" } });

const cases: AuthCase[] = [
  // -- sender must be joined
  { name: "sender: joined member sends a message", room: { members: { [BOB]: "join" } }, event: (r) => message(r, BOB), expect: "allow" },
  { name: "sender.not_joined: never joined", event: (r) => message(r, BOB), expect: deny("sender.not_joined") },
  {
    name: "sender.not_joined: only invited",
    room: { members: { [BOB]: "invite" } },
    event: (r) => message(r, BOB),
    expect: deny("sender.not_joined"),
  },
  { name: "sender.not_joined: left", room: { members: { [BOB]: "leave" } }, event: (r) => message(r, BOB), expect: deny("sender.not_joined") },
  { name: "sender.not_joined: banned", room: { members: { [BOB]: "ban" } }, event: (r) => message(r, BOB), expect: deny("sender.not_joined") },
  {
    name: "sender.not_joined: knocking (v7+)",
    versions: from(7),
    room: { joinRule: "knock", members: { [BOB]: "knock" } },
    event: (r) => message(r, BOB),
    expect: deny("sender.not_joined"),
  },
  {
    name: "sender.not_joined: state event from a non-member, whatever their power",
    room: { users: { [BOB]: 100 } },
    event: (r) => stateEvent(r, BOB),
    expect: deny("sender.not_joined"),
  },
  // -- required power level
  {
    name: "event.power: message below events_default",
    room: { powerLevels: { events_default: 10 }, members: { [BOB]: "join" } },
    event: (r) => message(r, BOB),
    expect: deny("event.power"),
  },
  {
    name: "event.power: message at events_default",
    room: { powerLevels: { events_default: 10 }, users: { [BOB]: 10 }, members: { [BOB]: "join" } },
    event: (r) => message(r, BOB),
    expect: "allow",
  },
  {
    name: "event.power: events map raises one message type",
    room: { powerLevels: { events: { "m.reaction": 5 } }, members: { [BOB]: "join" } },
    event: (r) => message(r, BOB, "m.reaction"),
    expect: deny("event.power"),
  },
  {
    name: "event.power: events map lowers one message type below events_default",
    room: { powerLevels: { events_default: 50, events: { "m.reaction": 0 } }, members: { [BOB]: "join" } },
    event: (r) => message(r, BOB, "m.reaction"),
    expect: "allow",
  },
  {
    name: "event.power: state event below state_default (default 50)",
    room: { members: { [BOB]: "join" } },
    event: (r) => stateEvent(r, BOB),
    expect: deny("event.power"),
  },
  {
    name: "event.power: state event by a moderator at state_default",
    room: { users: { [BOB]: 50 }, members: { [BOB]: "join" } },
    event: (r) => stateEvent(r, BOB),
    expect: "allow",
  },
  {
    name: "event.power: events map lowers one state type",
    room: { powerLevels: { events: { "m.room.topic": 0 } }, members: { [BOB]: "join" } },
    event: (r) => stateEvent(r, BOB),
    expect: "allow",
  },
  {
    name: "event.power: state_default applies to state events, not events_default",
    room: { powerLevels: { state_default: 0, events_default: 100 }, members: { [BOB]: "join" } },
    event: (r) => stateEvent(r, BOB),
    expect: "allow",
  },
  {
    name: "event.power: users_default gives everyone a level",
    room: { powerLevels: { users_default: 50 }, members: { [BOB]: "join" } },
    event: (r) => stateEvent(r, BOB),
    expect: "allow",
  },
  {
    name: "event.power: without power levels the creator sends state",
    room: { powerLevels: null },
    event: (r) => stateEvent(r, ALICE),
    expect: "allow",
  },
  {
    name: "event.power: without power levels others cannot send state (state_default 50)",
    room: { powerLevels: null, members: { [BOB]: "join" } },
    event: (r) => stateEvent(r, BOB),
    expect: deny("event.power"),
  },
  {
    name: "event.power: without power levels others may send messages",
    room: { powerLevels: null, members: { [BOB]: "join" } },
    event: (r) => message(r, BOB),
    expect: "allow",
  },
  {
    name: "event.power: stringy events_default \"10\" is honoured (v1–v9)",
    versions: upTo(9),
    room: { powerLevels: { events_default: "10" }, members: { [BOB]: "join" } },
    event: (r) => message(r, BOB),
    expect: deny("event.power"),
  },
  {
    name: "event.power: stringy user level \" +60 \" is honoured (v1–v9)",
    versions: upTo(9),
    room: { users: { [BOB]: " +60 " }, members: { [BOB]: "join" } },
    event: (r) => stateEvent(r, BOB),
    expect: "allow",
  },
  {
    name: "event.power: float user level truncated (v1–v5)",
    versions: upTo(5),
    room: { users: { [BOB]: 49.9 }, members: { [BOB]: "join" } },
    event: (r) => stateEvent(r, BOB),
    expect: deny("event.power"),
  },
  {
    name: "event.power: a string level in state is not read from v10 (falls back to the default)",
    versions: from(10),
    room: { powerLevels: { events_default: "10" }, members: { [BOB]: "join" } },
    event: (r) => message(r, BOB),
    expect: "allow",
  },
  // -- @-state keys
  {
    name: "event.state_key_user: state key naming another user",
    room: { powerLevels: { state_default: 0 }, members: { [BOB]: "join" } },
    event: (r) => stateEvent(r, BOB, "m.custom", CAROL),
    expect: deny("event.state_key_user"),
  },
  {
    name: "event.state_key_user: even the most powerful user cannot use another's key",
    room: { members: { [BOB]: "join" } },
    event: (r) => stateEvent(r, ALICE, "m.custom", BOB),
    expect: deny("event.state_key_user"),
  },
  {
    name: "event.state_key_user: a state key that is the sender's id",
    room: { powerLevels: { state_default: 0 }, members: { [BOB]: "join" } },
    event: (r) => stateEvent(r, BOB, "m.custom", BOB),
    expect: "allow",
  },
  {
    name: "event.state_key_user: the power check comes first",
    room: { members: { [BOB]: "join" } },
    event: (r) => stateEvent(r, BOB, "m.custom", CAROL),
    expect: deny("event.power"),
  },
  {
    name: "event.state_key_user: a state key with @ elsewhere is unrestricted",
    room: { powerLevels: { state_default: 0 }, members: { [BOB]: "join" } },
    event: (r) => stateEvent(r, BOB, "m.custom", `x${CAROL}`),
    expect: "allow",
  },
  // -- m.room.third_party_invite
  {
    name: "third_party_invite: member at the invite level (default 0)",
    room: { members: { [BOB]: "join" } },
    event: (r) => stateEvent(r, BOB, "m.room.third_party_invite", "token"),
    expect: "allow",
  },
  {
    name: "third_party_invite.power: below the invite level",
    room: { powerLevels: { invite: 50 }, members: { [BOB]: "join" } },
    event: (r) => stateEvent(r, BOB, "m.room.third_party_invite", "token"),
    expect: deny("third_party_invite.power"),
  },
  {
    name: "third_party_invite: the invite level decides, not events or state_default",
    room: { powerLevels: { invite: 0, events: { "m.room.third_party_invite": 100 } }, members: { [BOB]: "join" } },
    event: (r) => stateEvent(r, BOB, "m.room.third_party_invite", "token"),
    expect: "allow",
  },
  {
    name: "sender.not_joined: third_party_invite from a non-member",
    event: (r) => stateEvent(r, BOB, "m.room.third_party_invite", "token"),
    expect: deny("sender.not_joined"),
  },
  // -- m.room.aliases
  {
    name: "aliases: state key is the sender's server, even for a non-member (v1–v5)",
    versions: upTo(5),
    event: (r) => stateEvent(r, BOB, "m.room.aliases", "b.example"),
    expect: "allow",
  },
  {
    name: "aliases.server_mismatch: state key is another server (v1–v5)",
    versions: upTo(5),
    room: { users: { [BOB]: 100 }, members: { [BOB]: "join" } },
    event: (r) => stateEvent(r, BOB, "m.room.aliases", "a.example"),
    expect: deny("aliases.server_mismatch"),
  },
  {
    name: "aliases.no_state_key: aliases without a state key (v1–v5)",
    versions: upTo(5),
    event: (r) => r.event({ type: "m.room.aliases", sender: BOB, content: { aliases: [] } }),
    expect: deny("aliases.no_state_key"),
  },
  {
    name: "aliases: an ordinary state event from v6 (non-member rejected)",
    versions: from(6),
    event: (r) => stateEvent(r, BOB, "m.room.aliases", "b.example"),
    expect: deny("sender.not_joined"),
  },
  {
    name: "aliases: an ordinary state event from v6 (state_default applies)",
    versions: from(6),
    room: { members: { [BOB]: "join" } },
    event: (r) => stateEvent(r, BOB, "m.room.aliases", "b.example"),
    expect: deny("event.power"),
  },
  // -- m.room.redaction
  {
    name: "redaction.power: below the redact level, redacting another server's event (v1–v2)",
    versions: upTo(2),
    room: { members: { [BOB]: "join" } },
    given: (r) => void r.put({ type: "m.room.message", sender: ALICE, content: {} }),
    event: (r) => r.event({ type: "m.room.redaction", sender: BOB, content: {}, redacts: r.latest }),
    expect: deny("redaction.power"),
  },
  {
    name: "redaction: redacting an event from one's own server (v1–v2)",
    versions: upTo(2),
    room: { members: { [DAVE]: "join" } },
    given: (r) => void r.put({ type: "m.room.message", sender: ALICE, content: {} }),
    event: (r) => r.event({ type: "m.room.redaction", sender: DAVE, content: {}, redacts: r.latest }),
    expect: "allow",
  },
  {
    name: "redaction: at the redact level any event may be redacted (v1–v2)",
    versions: upTo(2),
    room: { users: { [BOB]: 50 }, members: { [BOB]: "join" } },
    given: (r) => void r.put({ type: "m.room.message", sender: ALICE, content: {} }),
    event: (r) => r.event({ type: "m.room.redaction", sender: BOB, content: {}, redacts: r.latest }),
    expect: "allow",
  },
  {
    name: "redaction.power: redaction without redacts (v1–v2)",
    versions: upTo(2),
    room: { members: { [BOB]: "join" } },
    event: (r) => r.event({ type: "m.room.redaction", sender: BOB, content: {} }),
    expect: deny("redaction.power"),
  },
  {
    name: "redaction: the redact level is not an auth rule from v3",
    versions: from(3),
    room: { members: { [BOB]: "join" } },
    given: (r) => void r.put({ type: "m.room.message", sender: ALICE, content: {} }),
    event: (r) => r.event({ type: "m.room.redaction", sender: BOB, content: {}, redacts: r.latest }),
    expect: "allow",
  },
  {
    name: "event.power: redactions follow the events map",
    room: { powerLevels: { events: { "m.room.redaction": 50 } }, members: { [BOB]: "join" } },
    given: (r) => void r.put({ type: "m.room.message", sender: BOB, content: {} }),
    event: (r) => r.event({ type: "m.room.redaction", sender: BOB, content: {}, redacts: r.latest }),
    expect: deny("event.power"),
  },
  // -- m.federate and missing create
  {
    name: "create.federate: message from another server in a non-federating room",
    room: { createContent: { "m.federate": false }, members: { [BOB]: "join" } },
    event: (r) => message(r, BOB),
    expect: deny("create.federate"),
  },
  {
    name: "create.federate: message from the creator's server in a non-federating room",
    room: { createContent: { "m.federate": false }, members: { [DAVE]: "join" } },
    event: (r) => message(r, DAVE),
    expect: "allow",
  },
  {
    name: "create.federate: m.federate true changes nothing",
    room: { createContent: { "m.federate": true }, members: { [BOB]: "join" } },
    event: (r) => message(r, BOB),
    expect: "allow",
  },
  {
    name: "state.no_create: state without a create event",
    room: { members: { [BOB]: "join" } },
    event: (r) => {
      const e = message(r, BOB);
      r.state.delete([...r.state.keys()].find((k) => k.startsWith("m.room.create"))!);
      return e;
    },
    expect: deny("state.no_create"),
  },
];

describe("auth rules: other events", () => runCases(cases));
