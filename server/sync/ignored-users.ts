// Ignoring users (spec: "Ignoring Users"): the m.ignored_user_list global
// account data names users whose events the ignorer no longer receives, in
// /sync timelines and /messages, and whose invites are not delivered. State
// events still are, so the room looks the same to everyone. A change of the
// list applies from the next request on; events missed while a user was
// ignored are not replayed when they are un-ignored (the client may start a
// fresh sync to see them).
import { getAccountData } from "../storage/account-data.ts";
import type { Queryable } from "../storage/database.ts";

export const IGNORED_USER_LIST = "m.ignored_user_list";

const NONE: ReadonlySet<string> = new Set();

/** The users `userId` ignores; a malformed list ignores nobody, and nobody can ignore themselves. */
export async function ignoredUsersOf(q: Queryable, userId: string): Promise<ReadonlySet<string>> {
  const list = (await getAccountData(q, userId, "", IGNORED_USER_LIST))?.ignored_users;
  if (typeof list !== "object" || list === null || Array.isArray(list)) return NONE;
  const users = Object.keys(list).filter((u) => u !== userId);
  return users.length === 0 ? NONE : new Set(users);
}

/** Whether the ignorer must not be shown this event: a non-state event from an ignored sender. */
export function hiddenByIgnore(ignored: ReadonlySet<string>, event: { sender: string; stateKey: string | null }): boolean {
  return event.stateKey === null && ignored.has(event.sender);
}
