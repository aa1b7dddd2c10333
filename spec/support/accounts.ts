// Account helpers for integration tests, going through the public API only.
import { createHmac } from "node:crypto";
import { expect } from "chai";
import type { TestClient } from "./http-client.ts";

export interface TestUser {
  user_id: string;
  access_token: string;
  device_id: string;
  password: string;
}

let counter = 0;
export function uniqueLocalpart(prefix = "user"): string {
  counter += 1;
  return `${prefix}${Date.now().toString(36)}${counter}`;
}

/** Registers through POST /register with the m.login.dummy flow (two round trips, as a client does). */
export async function registerUser(api: TestClient, localpart = uniqueLocalpart(), password = "correct horse battery staple"): Promise<TestUser> {
  const first = await api.post<{ session: string }>("/_matrix/client/v3/register", { username: localpart, password });
  expect(first.status, JSON.stringify(first.body)).to.equal(401);
  const done = await api.post<TestUser>("/_matrix/client/v3/register", {
    username: localpart,
    password,
    auth: { type: "m.login.dummy", session: first.body.session },
  });
  expect(done.status, JSON.stringify(done.body)).to.equal(200);
  return { ...done.body, password };
}

/**
 * Shared-secret registration through /_synapse/admin/v1/register (nonce, then
 * the HMAC'd request), as Synapse's register_new_matrix_user does. Both
 * Synapse and our server serve it, so the benchmarks create users on either
 * with the same code.
 */
export async function registerWithSharedSecret(
  clientUrl: string,
  secret: string,
  localpart: string,
  password: string,
  admin = false,
): Promise<{ user_id: string; access_token: string; device_id: string }> {
  const endpoint = `${clientUrl}/_synapse/admin/v1/register`;
  const nonce = ((await (await fetch(endpoint)).json()) as { nonce: string }).nonce;
  const res = await fetch(endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ nonce, username: localpart, password, admin, mac: adminRegisterMac(secret, nonce, localpart, password, admin) }),
  });
  const body = (await res.json()) as { user_id: string; access_token: string; device_id: string };
  if (res.status !== 200) throw new Error(`${clientUrl}: registering ${localpart} answered ${res.status} ${JSON.stringify(body)}`);
  return { user_id: body.user_id, access_token: body.access_token, device_id: body.device_id };
}

export function adminRegisterMac(secret: string, nonce: string, username: string, password: string, admin: boolean): string {
  return createHmac("sha1", secret).update(`${nonce}\0${username}\0${password}\0${admin ? "admin" : "notadmin"}`).digest("hex");
}

/** Logs the user in again with the password: a new device (named when `deviceName` is given). */
export async function loginDevice(api: TestClient, user: TestUser, deviceName?: string): Promise<TestUser> {
  const res = await api.post<TestUser>("/_matrix/client/v3/login", {
    type: "m.login.password",
    identifier: { type: "m.id.user", user: user.user_id },
    password: user.password,
    ...(deviceName !== undefined ? { initial_device_display_name: deviceName } : {}),
  });
  expect(res.status, JSON.stringify(res.body)).to.equal(200);
  return { ...res.body, password: user.password };
}
