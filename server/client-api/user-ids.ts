// Mapping what a user types (a localpart or a full user ID) to a local user ID.
import { forbidden, MatrixError } from "../errors/matrix-error.ts";
import { isValidNewLocalpart } from "../protocol/identifiers.ts";

/** Lower-cases the localpart, as Synapse does, so logins are case-insensitive. */
export function resolveLocalUserId(input: string, serverName: string): string {
  if (!input.startsWith("@")) return `@${input.toLowerCase()}:${serverName}`;
  // Localparts cannot contain ':', so the first colon starts the server name (which may carry a port).
  const colon = input.indexOf(":");
  if (colon < 0 || input.slice(colon + 1) !== serverName) throw forbidden("Invalid username or password");
  return `@${input.slice(1, colon).toLowerCase()}:${serverName}`;
}

/** Validates a requested localpart for a new account (spec: user identifier grammar). */
export function checkNewLocalpart(localpart: string, serverName: string): string {
  if (localpart.length === 0 || !isValidNewLocalpart(localpart, serverName)) {
    throw new MatrixError(400, "M_INVALID_USERNAME", "User ID may only contain a-z, 0-9, '.', '_', '=', '-', '/' and '+', and be at most 255 bytes in all");
  }
  return `@${localpart}:${serverName}`;
}
