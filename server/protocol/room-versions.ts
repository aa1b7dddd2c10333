// Registry of room versions 1–12 and the rule variants each one selects.
// https://spec.matrix.org/v1.19/rooms/ — every flag names the version that
// introduced it, so a reader can check it against that version's page.

export type EventFormat =
  | "v1" // event_id carried in the event as $random:server; prev/auth are [id, hashes] pairs (rooms v1–v2)
  | "v3" // event_id is the reference hash, standard unpadded base64 (room v3)
  | "v4"; // event_id is the reference hash, URL-safe unpadded base64 (rooms v4+)

export type StateResolutionAlgorithm = "v1" | "v2" | "v2.1";

export interface RoomVersion {
  readonly id: string;
  readonly stable: boolean;
  readonly eventFormat: EventFormat;
  readonly stateResolution: StateResolutionAlgorithm;
  /** v5: signing keys must be valid (valid_until_ts) at origin_server_ts. */
  readonly enforceKeyValidity: boolean;
  /** v1–v5: m.room.aliases has its own auth rule (sender domain = state_key). */
  readonly specialCaseAliasesAuth: boolean;
  /** v6: canonical JSON is enforced: integers only, within ±(2^53−1). */
  readonly strictCanonicalJson: boolean;
  /** v6: the `notifications` power levels are checked when power levels change. */
  readonly limitNotificationsPowerLevels: boolean;
  /** v7: the `knock` join rule and membership. */
  readonly knocking: boolean;
  /** v8: the `restricted` join rule with join_authorised_via_users_server. */
  readonly restrictedJoins: boolean;
  /** v10: the `knock_restricted` join rule. */
  readonly knockRestricted: boolean;
  /** v10: power level values must be integers (no numeric strings). */
  readonly integerPowerLevels: boolean;
  /** v11: the create event has no `creator`; the creator is its sender. */
  readonly implicitRoomCreator: boolean;
  /** v11: `redacts` lives in content of m.room.redaction. */
  readonly redactsInContent: boolean;
  /** Which redaction algorithm applies (the keep-lists changed in v6, v8, v9 and v11). */
  readonly redactionRules: "v1" | "v6" | "v8" | "v9" | "v11";
  /** v12: the room id is the create event's reference hash with sigil `!`; create events carry no room_id. */
  readonly roomIdFromCreateEvent: boolean;
  /** v12: the create event's sender and additional_creators have infinite power. */
  readonly privilegedCreators: boolean;
}

const v1: RoomVersion = {
  id: "1",
  stable: true,
  eventFormat: "v1",
  stateResolution: "v1",
  enforceKeyValidity: false,
  specialCaseAliasesAuth: true,
  strictCanonicalJson: false,
  limitNotificationsPowerLevels: false,
  knocking: false,
  restrictedJoins: false,
  knockRestricted: false,
  integerPowerLevels: false,
  implicitRoomCreator: false,
  redactsInContent: false,
  redactionRules: "v1",
  roomIdFromCreateEvent: false,
  privilegedCreators: false,
};
const v2: RoomVersion = { ...v1, id: "2", stateResolution: "v2" };
const v3: RoomVersion = { ...v2, id: "3", eventFormat: "v3" };
const v4: RoomVersion = { ...v3, id: "4", eventFormat: "v4" };
const v5: RoomVersion = { ...v4, id: "5", enforceKeyValidity: true };
const v6: RoomVersion = {
  ...v5,
  id: "6",
  specialCaseAliasesAuth: false,
  strictCanonicalJson: true,
  limitNotificationsPowerLevels: true,
  redactionRules: "v6",
};
const v7: RoomVersion = { ...v6, id: "7", knocking: true };
const v8: RoomVersion = { ...v7, id: "8", restrictedJoins: true, redactionRules: "v8" };
const v9: RoomVersion = { ...v8, id: "9", redactionRules: "v9" };
const v10: RoomVersion = { ...v9, id: "10", knockRestricted: true, integerPowerLevels: true };
const v11: RoomVersion = {
  ...v10,
  id: "11",
  implicitRoomCreator: true,
  redactsInContent: true,
  redactionRules: "v11",
};
const v12: RoomVersion = {
  ...v11,
  id: "12",
  stateResolution: "v2.1",
  roomIdFromCreateEvent: true,
  privilegedCreators: true,
};

export const ROOM_VERSIONS: ReadonlyMap<string, RoomVersion> = new Map(
  [v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12].map((v) => [v.id, v]),
);

export const DEFAULT_ROOM_VERSION = "12";

export function getRoomVersion(id: string): RoomVersion | undefined {
  return ROOM_VERSIONS.get(id);
}

/** The `m.room_versions` capability as served by GET /capabilities. */
export function roomVersionsCapability(): { default: string; available: Record<string, "stable" | "unstable"> } {
  const available: Record<string, "stable" | "unstable"> = {};
  for (const v of ROOM_VERSIONS.values()) available[v.id] = v.stable ? "stable" : "unstable";
  return { default: DEFAULT_ROOM_VERSION, available };
}
