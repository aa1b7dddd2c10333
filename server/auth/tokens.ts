// Access and refresh tokens: 256 random bits, handed to the client once and
// stored only as SHA-256 (a slow hash adds nothing for random secrets).
import { createHash, randomBytes } from "node:crypto";

export function newAccessToken(): string {
  return `myat_${randomBytes(32).toString("base64url")}`;
}

export function newRefreshToken(): string {
  return `myrt_${randomBytes(32).toString("base64url")}`;
}

export function hashToken(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

/** Device ids generated for clients that do not pick one: 10 upper-case letters, as Synapse does. */
export function newDeviceId(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const bytes = randomBytes(10);
  return Array.from(bytes, (b) => alphabet[b % 26]).join("");
}
