// Server ACLs (spec: "Server Access Control Lists (ACLs)", m.room.server_acl):
// whether a server may take part in a room. Deny beats allow; a server
// matching no allow entry is denied; IP-literal server names are denied when
// allow_ip_literals is false (the default is true). Globs use * and ? and
// are matched against the server name without its port, case-insensitively.
import { isJsonObject, type JsonObject } from "./json.ts";
import { parseServerName } from "./identifiers.ts";

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${escaped}$`, "i");
}

function globs(value: unknown): RegExp[] {
  return Array.isArray(value) ? value.filter((g): g is string => typeof g === "string").map(globToRegExp) : [];
}

/** True when `serverName` may participate under the ACL content (absent content allows everyone). */
export function serverAllowedByAcl(content: JsonObject | undefined, serverName: string): boolean {
  if (!content || !isJsonObject(content)) return true;
  const parts = parseServerName(serverName);
  if (!parts) return false;
  const host = parts.host;
  if (content.allow_ip_literals === false && parts.kind !== "dns") return false;
  if (globs(content.deny).some((re) => re.test(host))) return false;
  return globs(content.allow).some((re) => re.test(host));
}
