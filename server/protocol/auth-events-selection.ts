// Auth events selection: which (type, state_key) pairs of the room state an
// event cites in `auth_events`. Used both to build new events and to reject
// received events citing anything else.
// https://spec.matrix.org/v1.19/server-server-api/#auth-events-selection
import { isJsonObject, type JsonObject } from "./json.ts";
import type { RoomVersion } from "./room-versions.ts";

export type AuthEventKey = readonly [type: string, stateKey: string];

export interface AuthSelectionInput {
  readonly type: string;
  readonly stateKey: string | undefined;
  readonly sender: string;
  readonly content: JsonObject;
}

/**
 * The state keys an event's auth events must be drawn from, without duplicates.
 * The create event itself has none. From v12 the create event is never
 * selected: the room id names it.
 */
export function authEventTypes(event: AuthSelectionInput, version: RoomVersion): AuthEventKey[] {
  if (event.type === "m.room.create") return [];
  const keys: AuthEventKey[] = [];
  const add = (type: string, stateKey: string): void => {
    if (!keys.some(([t, s]) => t === type && s === stateKey)) keys.push([type, stateKey]);
  };

  if (!version.roomIdFromCreateEvent) add("m.room.create", "");
  add("m.room.power_levels", "");
  add("m.room.member", event.sender);

  if (event.type === "m.room.member") {
    const membership = event.content.membership;
    if (event.stateKey !== undefined) add("m.room.member", event.stateKey);
    // Knock is listed whatever the version: before v7 the membership rules reject it anyway.
    if (membership === "join" || membership === "invite" || membership === "knock") add("m.room.join_rules", "");
    if (membership === "invite") {
      const token = thirdPartyInviteToken(event.content);
      if (token !== undefined) add("m.room.third_party_invite", token);
    }
    const authoriser = event.content.join_authorised_via_users_server;
    if (membership === "join" && version.restrictedJoins && typeof authoriser === "string") {
      add("m.room.member", authoriser);
    }
  }
  return keys;
}

/** `content.third_party_invite.signed.token` when it is a string. */
export function thirdPartyInviteToken(content: JsonObject): string | undefined {
  const invite = content.third_party_invite;
  if (!isJsonObject(invite)) return undefined;
  const signed = invite.signed;
  if (!isJsonObject(signed)) return undefined;
  return typeof signed.token === "string" ? signed.token : undefined;
}
