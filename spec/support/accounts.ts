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
