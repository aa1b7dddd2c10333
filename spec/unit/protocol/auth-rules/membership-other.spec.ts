// m.room.member with membership invite (including third-party invites), leave
// (leaving, rejecting, kicking, unbanning), ban and knock.
import { generateKeyPairSync, sign } from "node:crypto";
import type { JsonObject } from "../../../../server/protocol/json.ts";
import { ALICE, type AuthCase, BOB, CAROL, DAVE, EVE, type TestRoom, between, deny, from, runCases, upTo } from "./room-builder.ts";

const member = (room: TestRoom, sender: string, target: string, membership: string, extra: JsonObject = {}) =>
  room.event({ type: "m.room.member", stateKey: target, sender, content: { membership, ...extra } });

// ------------------------------------------------------- third-party invites

const identityServer = generateKeyPairSync("ed25519");
const otherServer = generateKeyPairSync("ed25519");
const rawKey = (pair: typeof identityServer): Buffer =>
  Buffer.from(pair.publicKey.export({ format: "jwk" }).x as string, "base64url");
const unpadded = (bytes: Buffer): string => bytes.toString("base64").replace(/=+$/, "");
const ISKEY = unpadded(rawKey(identityServer));
const ISKEY_URLSAFE = rawKey(identityServer).toString("base64url");
const OTHERKEY = unpadded(rawKey(otherServer));

/** A `signed` block; keys are inserted in sorted order so JSON.stringify is canonical JSON. */
function signedBlock(mxid: string, token: string, pair = identityServer, keyId = "ed25519:0"): JsonObject {
  const payload = { mxid, token };
  const signature = unpadded(sign(null, Buffer.from(JSON.stringify(payload)), pair.privateKey));
  return { mxid, signatures: { "id.example": { [keyId]: signature } }, token };
}

/** Carol (joined, may invite) has issued a third-party invite with token "tok". */
function withThirdPartyInvite(inviteContent: JsonObject = { public_key: ISKEY }, sender = CAROL) {
  return (room: TestRoom) =>
    void room.put({
      type: "m.room.third_party_invite",
      stateKey: "tok",
      sender,
      content: { display_name: "b…", key_validity_url: "https://id.example/isvalid", ...inviteContent },
    });
}

const tpiInvite = (room: TestRoom, thirdPartyInvite: JsonObject, target = BOB, sender = CAROL) =>
  member(room, sender, target, "invite", { third_party_invite: thirdPartyInvite });

const joined = { members: { [CAROL]: "join" } };

const inviteCases: AuthCase[] = [
  { name: "member.invite: joined member invites (invite level 0)", room: joined, event: (r) => member(r, CAROL, BOB, "invite"), expect: "allow" },
  {
    name: "member.invite: re-inviting an invited user",
    room: { members: { [CAROL]: "join", [BOB]: "invite" } },
    event: (r) => member(r, CAROL, BOB, "invite"),
    expect: "allow",
  },
  {
    name: "member.invite: inviting a user who left",
    room: { members: { [CAROL]: "join", [BOB]: "leave" } },
    event: (r) => member(r, CAROL, BOB, "invite"),
    expect: "allow",
  },
  {
    name: "member.invite: inviting a user who knocked (v7+)",
    versions: from(7),
    room: { joinRule: "knock", members: { [CAROL]: "join", [BOB]: "knock" } },
    event: (r) => member(r, CAROL, BOB, "invite"),
    expect: "allow",
  },
  {
    name: "member.invite.sender_not_joined: inviter never joined",
    event: (r) => member(r, CAROL, BOB, "invite"),
    expect: deny("member.invite.sender_not_joined"),
  },
  {
    name: "member.invite.sender_not_joined: inviter is only invited",
    room: { members: { [CAROL]: "invite" } },
    event: (r) => member(r, CAROL, BOB, "invite"),
    expect: deny("member.invite.sender_not_joined"),
  },
  {
    name: "member.invite.target_state: target already joined",
    room: { members: { [CAROL]: "join", [BOB]: "join" } },
    event: (r) => member(r, CAROL, BOB, "invite"),
    expect: deny("member.invite.target_state"),
  },
  {
    name: "member.invite.target_state: target banned",
    room: { members: { [CAROL]: "join", [BOB]: "ban" } },
    event: (r) => member(r, CAROL, BOB, "invite"),
    expect: deny("member.invite.target_state"),
  },
  {
    name: "member.invite.power: inviter below the invite level",
    room: { ...joined, powerLevels: { invite: 50 }, users: { [CAROL]: 49 } },
    event: (r) => member(r, CAROL, BOB, "invite"),
    expect: deny("member.invite.power"),
  },
  {
    name: "member.invite.power: users_default below the invite level",
    room: { ...joined, powerLevels: { invite: 1 } },
    event: (r) => member(r, CAROL, BOB, "invite"),
    expect: deny("member.invite.power"),
  },
  {
    name: "member.invite: inviter exactly at the invite level",
    room: { ...joined, powerLevels: { invite: 50 }, users: { [CAROL]: 50 } },
    event: (r) => member(r, CAROL, BOB, "invite"),
    expect: "allow",
  },
  {
    name: "member.invite.power: stringy invite level \"50\" honoured (v1–v9)",
    versions: upTo(9),
    room: { ...joined, powerLevels: { invite: "50" }, users: { [CAROL]: "10" } },
    event: (r) => member(r, CAROL, BOB, "invite"),
    expect: deny("member.invite.power"),
  },
  // -- third-party invites
  {
    name: "member.invite (3pid): signature by the invite's public_key",
    room: joined,
    given: withThirdPartyInvite(),
    event: (r) => tpiInvite(r, { display_name: "b", signed: signedBlock(BOB, "tok") }),
    expect: "allow",
  },
  {
    name: "member.invite (3pid): signature by a key in public_keys",
    room: joined,
    given: withThirdPartyInvite({ public_key: OTHERKEY, public_keys: [{ public_key: OTHERKEY }, { public_key: ISKEY }] }),
    event: (r) => tpiInvite(r, { signed: signedBlock(BOB, "tok") }),
    expect: "allow",
  },
  {
    name: "member.invite (3pid): URL-safe encoded public key",
    room: joined,
    given: withThirdPartyInvite({ public_key: ISKEY_URLSAFE }),
    event: (r) => tpiInvite(r, { signed: signedBlock(BOB, "tok") }),
    expect: "allow",
  },
  {
    name: "member.invite (3pid): the inviter need not still be joined",
    room: { members: { [CAROL]: "join" } },
    given: (r) => {
      withThirdPartyInvite()(r);
      r.member(CAROL, "leave");
    },
    event: (r) => tpiInvite(r, { signed: signedBlock(BOB, "tok") }),
    expect: "allow",
  },
  {
    name: "member.invite.tpi_signature: signed by a key the invite does not list",
    room: joined,
    given: withThirdPartyInvite(),
    event: (r) => tpiInvite(r, { signed: signedBlock(BOB, "tok", otherServer) }),
    expect: deny("member.invite.tpi_signature"),
  },
  {
    name: "member.invite.tpi_signature: signed content altered after signing",
    room: joined,
    given: withThirdPartyInvite(),
    event: (r) => tpiInvite(r, { signed: { ...signedBlock(BOB, "tok"), extra: "tampered" } }),
    expect: deny("member.invite.tpi_signature"),
  },
  {
    name: "member.invite.tpi_signature: only ed25519 signatures count",
    room: joined,
    given: withThirdPartyInvite(),
    event: (r) => tpiInvite(r, { signed: signedBlock(BOB, "tok", identityServer, "curve25519:0") }),
    expect: deny("member.invite.tpi_signature"),
  },
  {
    name: "member.invite.tpi_signature: no usable public key in the invite",
    room: joined,
    given: withThirdPartyInvite({ public_key: "not base64!" }),
    event: (r) => tpiInvite(r, { signed: signedBlock(BOB, "tok") }),
    expect: deny("member.invite.tpi_signature"),
  },
  {
    name: "member.invite.tpi_target_banned: banned target",
    room: { members: { [CAROL]: "join", [BOB]: "ban" } },
    given: withThirdPartyInvite(),
    event: (r) => tpiInvite(r, { signed: signedBlock(BOB, "tok") }),
    expect: deny("member.invite.tpi_target_banned"),
  },
  {
    name: "member.invite.tpi_no_signed: third_party_invite without signed",
    room: joined,
    given: withThirdPartyInvite(),
    event: (r) => tpiInvite(r, { display_name: "b" }),
    expect: deny("member.invite.tpi_no_signed"),
  },
  {
    name: "member.invite.tpi_no_signed: third_party_invite that is not an object",
    room: joined,
    event: (r) => member(r, CAROL, BOB, "invite", { third_party_invite: "yes" }),
    expect: deny("member.invite.tpi_no_signed"),
  },
  {
    name: "member.invite.tpi_signed_fields: signed without token",
    room: joined,
    given: withThirdPartyInvite(),
    event: (r) => tpiInvite(r, { signed: { mxid: BOB, signatures: {} } }),
    expect: deny("member.invite.tpi_signed_fields"),
  },
  {
    name: "member.invite.tpi_signed_fields: signed without mxid",
    room: joined,
    given: withThirdPartyInvite(),
    event: (r) => tpiInvite(r, { signed: { token: "tok", signatures: {} } }),
    expect: deny("member.invite.tpi_signed_fields"),
  },
  {
    name: "member.invite.tpi_mxid: signed.mxid is not the target",
    room: joined,
    given: withThirdPartyInvite(),
    event: (r) => tpiInvite(r, { signed: signedBlock(EVE, "tok") }),
    expect: deny("member.invite.tpi_mxid"),
  },
  {
    name: "member.invite.tpi_no_invite_event: no m.room.third_party_invite for the token",
    room: joined,
    given: withThirdPartyInvite(),
    event: (r) => tpiInvite(r, { signed: signedBlock(BOB, "other-token") }),
    expect: deny("member.invite.tpi_no_invite_event"),
  },
  {
    name: "member.invite.tpi_sender: sender did not issue the third-party invite",
    room: { members: { [CAROL]: "join", [DAVE]: "join" } },
    given: withThirdPartyInvite(),
    event: (r) => tpiInvite(r, { signed: signedBlock(BOB, "tok") }, BOB, DAVE),
    expect: deny("member.invite.tpi_sender"),
  },
];

// ----------------------------------------------------------------- leave

const leaveCases: AuthCase[] = [
  {
    name: "member.leave (self): a joined member leaves",
    room: { members: { [BOB]: "join" } },
    event: (r) => member(r, BOB, BOB, "leave"),
    expect: "allow",
  },
  {
    name: "member.leave (self): an invited user rejects the invite",
    room: { joinRule: "invite", members: { [BOB]: "invite" } },
    event: (r) => member(r, BOB, BOB, "leave"),
    expect: "allow",
  },
  {
    name: "member.leave (self): a knocking user rescinds the knock (v7+)",
    versions: from(7),
    room: { joinRule: "knock", members: { [BOB]: "knock" } },
    event: (r) => member(r, BOB, BOB, "leave"),
    expect: "allow",
  },
  {
    name: "member.leave.not_member: a 'knock' membership gives nothing to leave before v7",
    versions: upTo(6),
    given: (r) => void r.member(BOB, "knock"),
    event: (r) => member(r, BOB, BOB, "leave"),
    expect: deny("member.leave.not_member"),
  },
  {
    name: "member.leave.not_member: leaving again after leaving",
    room: { members: { [BOB]: "leave" } },
    event: (r) => member(r, BOB, BOB, "leave"),
    expect: deny("member.leave.not_member"),
  },
  {
    name: "member.leave.not_member: a banned user cannot unban themselves",
    room: { members: { [BOB]: "ban" } },
    event: (r) => member(r, BOB, BOB, "leave"),
    expect: deny("member.leave.not_member"),
  },
  {
    name: "member.leave.not_member: a user never in the room",
    event: (r) => member(r, BOB, BOB, "leave"),
    expect: deny("member.leave.not_member"),
  },
  {
    name: "member.leave.sender_not_joined: kicker not in the room",
    room: { users: { [CAROL]: 100 }, members: { [BOB]: "join" } },
    event: (r) => member(r, CAROL, BOB, "leave"),
    expect: deny("member.leave.sender_not_joined"),
  },
  {
    name: "member.leave (kick): moderator kicks a user",
    room: { users: { [CAROL]: 50 }, members: { [CAROL]: "join", [BOB]: "join" } },
    event: (r) => member(r, CAROL, BOB, "leave"),
    expect: "allow",
  },
  {
    name: "member.leave (kick): moderator revokes an invite",
    room: { users: { [CAROL]: 50 }, members: { [CAROL]: "join", [BOB]: "invite" } },
    event: (r) => member(r, CAROL, BOB, "leave"),
    expect: "allow",
  },
  {
    name: "member.leave.kick_power: kicker below the kick level",
    room: { users: { [CAROL]: 49 }, members: { [CAROL]: "join", [BOB]: "join" } },
    event: (r) => member(r, CAROL, BOB, "leave"),
    expect: deny("member.leave.kick_power"),
  },
  {
    name: "member.leave.kick_power: target has the same power as the kicker",
    room: { users: { [CAROL]: 50, [BOB]: 50 }, members: { [CAROL]: "join", [BOB]: "join" } },
    event: (r) => member(r, CAROL, BOB, "leave"),
    expect: deny("member.leave.kick_power"),
  },
  {
    name: "member.leave.kick_power: raised kick level",
    room: { powerLevels: { kick: 75 }, users: { [CAROL]: 50 }, members: { [CAROL]: "join", [BOB]: "join" } },
    event: (r) => member(r, CAROL, BOB, "leave"),
    expect: deny("member.leave.kick_power"),
  },
  {
    name: "member.leave (kick): lowered kick level lets a user kick a lower user",
    room: { powerLevels: { kick: 0, users_default: 0 }, users: { [CAROL]: 1 }, members: { [CAROL]: "join", [BOB]: "join" } },
    event: (r) => member(r, CAROL, BOB, "leave"),
    expect: "allow",
  },
  {
    name: "member.leave (unban): moderator with ban and kick levels unbans",
    room: { users: { [CAROL]: 50 }, members: { [CAROL]: "join", [BOB]: "ban" } },
    event: (r) => member(r, CAROL, BOB, "leave"),
    expect: "allow",
  },
  {
    name: "member.leave.unban_power: unbanning below the ban level",
    room: { powerLevels: { ban: 75, kick: 50 }, users: { [CAROL]: 50 }, members: { [CAROL]: "join", [BOB]: "ban" } },
    event: (r) => member(r, CAROL, BOB, "leave"),
    expect: deny("member.leave.unban_power"),
  },
  {
    name: "member.leave.kick_power: unbanning also needs the kick level",
    room: { powerLevels: { ban: 50, kick: 75 }, users: { [CAROL]: 50 }, members: { [CAROL]: "join", [BOB]: "ban" } },
    event: (r) => member(r, CAROL, BOB, "leave"),
    expect: deny("member.leave.kick_power"),
  },
  {
    name: "member.leave (kick): the creator kicks when there are no power levels (100 / infinite)",
    room: { powerLevels: null, members: { [BOB]: "join" } },
    event: (r) => member(r, ALICE, BOB, "leave"),
    expect: "allow",
  },
  {
    name: "member.leave.kick_power: non-creators have level 0 without power levels",
    room: { powerLevels: null, members: { [BOB]: "join", [CAROL]: "join" } },
    event: (r) => member(r, CAROL, BOB, "leave"),
    expect: deny("member.leave.kick_power"),
  },
];

// ------------------------------------------------------------------- ban

const banCases: AuthCase[] = [
  {
    name: "member.ban: moderator bans a joined user",
    room: { users: { [CAROL]: 50 }, members: { [CAROL]: "join", [BOB]: "join" } },
    event: (r) => member(r, CAROL, BOB, "ban"),
    expect: "allow",
  },
  {
    name: "member.ban: moderator bans a user who was never in the room",
    room: { users: { [CAROL]: 50 }, members: { [CAROL]: "join" } },
    event: (r) => member(r, CAROL, EVE, "ban"),
    expect: "allow",
  },
  {
    name: "member.ban.sender_not_joined: banner not joined",
    room: { users: { [CAROL]: 50 }, members: { [CAROL]: "leave", [BOB]: "join" } },
    event: (r) => member(r, CAROL, BOB, "ban"),
    expect: deny("member.ban.sender_not_joined"),
  },
  {
    name: "member.ban.power: banner below the ban level",
    room: { users: { [CAROL]: 49 }, members: { [CAROL]: "join", [BOB]: "join" } },
    event: (r) => member(r, CAROL, BOB, "ban"),
    expect: deny("member.ban.power"),
  },
  {
    name: "member.ban.power: target as powerful as the banner",
    room: { users: { [CAROL]: 60, [BOB]: 60 }, members: { [CAROL]: "join", [BOB]: "join" } },
    event: (r) => member(r, CAROL, BOB, "ban"),
    expect: deny("member.ban.power"),
  },
  {
    name: "member.ban.power: user cannot ban themselves below the ban level",
    room: { members: { [BOB]: "join" } },
    event: (r) => member(r, BOB, BOB, "ban"),
    expect: deny("member.ban.power"),
  },
  {
    name: "member.ban: lowered ban level",
    room: { powerLevels: { ban: 10 }, users: { [CAROL]: 10 }, members: { [CAROL]: "join", [BOB]: "join" } },
    event: (r) => member(r, CAROL, BOB, "ban"),
    expect: "allow",
  },
];

// ----------------------------------------------------------------- knock

const knockCases: AuthCase[] = [
  {
    name: "member.knock: knocking on a knock room (v7+)",
    versions: from(7),
    room: { joinRule: "knock" },
    event: (r) => member(r, BOB, BOB, "knock"),
    expect: "allow",
  },
  {
    name: "member.knock: knocking again after leaving (v7+)",
    versions: from(7),
    room: { joinRule: "knock", members: { [BOB]: "leave" } },
    event: (r) => member(r, BOB, BOB, "knock"),
    expect: "allow",
  },
  {
    name: "member.knock: knocking again while knocking (v7+)",
    versions: from(7),
    room: { joinRule: "knock", members: { [BOB]: "knock" } },
    event: (r) => member(r, BOB, BOB, "knock"),
    expect: "allow",
  },
  {
    name: "member.knock: knocking on a knock_restricted room (v10+)",
    versions: from(10),
    room: { joinRule: "knock_restricted" },
    event: (r) => member(r, BOB, BOB, "knock"),
    expect: "allow",
  },
  {
    name: "member.knock.join_rule: knock_restricted does not allow knocking before v10",
    versions: between(7, 9),
    room: { joinRule: "knock_restricted" },
    event: (r) => member(r, BOB, BOB, "knock"),
    expect: deny("member.knock.join_rule"),
  },
  {
    name: "member.knock.join_rule: public room (v7+)",
    versions: from(7),
    event: (r) => member(r, BOB, BOB, "knock"),
    expect: deny("member.knock.join_rule"),
  },
  {
    name: "member.knock.join_rule: invite room (v7+)",
    versions: from(7),
    room: { joinRule: "invite" },
    event: (r) => member(r, BOB, BOB, "knock"),
    expect: deny("member.knock.join_rule"),
  },
  {
    name: "member.knock.join_rule: restricted room (v8+)",
    versions: from(8),
    room: { joinRule: "restricted" },
    event: (r) => member(r, BOB, BOB, "knock"),
    expect: deny("member.knock.join_rule"),
  },
  {
    name: "member.knock.sender_not_target: knocking for someone else (v7+)",
    versions: from(7),
    room: { joinRule: "knock", members: { [CAROL]: "join" } },
    event: (r) => member(r, CAROL, BOB, "knock"),
    expect: deny("member.knock.sender_not_target"),
  },
  {
    name: "member.knock.membership: banned user cannot knock (v7+)",
    versions: from(7),
    room: { joinRule: "knock", members: { [BOB]: "ban" } },
    event: (r) => member(r, BOB, BOB, "knock"),
    expect: deny("member.knock.membership"),
  },
  {
    name: "member.knock.membership: invited user cannot knock (v7+)",
    versions: from(7),
    room: { joinRule: "knock", members: { [BOB]: "invite" } },
    event: (r) => member(r, BOB, BOB, "knock"),
    expect: deny("member.knock.membership"),
  },
  {
    name: "member.knock.membership: joined user cannot knock (v7+)",
    versions: from(7),
    room: { joinRule: "knock", members: { [BOB]: "join" } },
    event: (r) => member(r, BOB, BOB, "knock"),
    expect: deny("member.knock.membership"),
  },
];

describe("auth rules: membership invite", () => runCases(inviteCases));
describe("auth rules: membership leave", () => runCases(leaveCases));
describe("auth rules: membership ban", () => runCases(banCases));
describe("auth rules: membership knock", () => runCases(knockCases));
