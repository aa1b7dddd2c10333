// The push rules API through the public HTTP API: the default ruleset, user
// rules with before/after placement, enabling/disabling and changing the
// actions of default rules, the spec's errors, and m.push_rules in /sync.
import { expect } from "chai";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { sync, V3 } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

interface Rule {
  rule_id: string;
  default: boolean;
  enabled: boolean;
  actions: unknown[];
  conditions?: unknown[];
  pattern?: string;
}
type Ruleset = Record<"override" | "content" | "room" | "sender" | "underride", Rule[]>;

describe("push rules API (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;
  let alice: TestUser;

  const rulePath = (kind: string, ruleId: string, prefix = V3) => `${prefix}/pushrules/global/${kind}/${encodeURIComponent(ruleId)}`;
  const ruleset = async (user: TestUser = alice): Promise<Ruleset> => {
    const res = await api.get<Ruleset>(`${V3}/pushrules/global/`, { token: user.access_token });
    expect(res.status, res.text).to.equal(200);
    return res.body;
  };
  const ids = (rules: Rule[]) => rules.map((r) => r.rule_id);
  const put = (user: TestUser, kind: string, ruleId: string, body: unknown, query = "") =>
    api.put(`${rulePath(kind, ruleId)}${query}`, body, { token: user.access_token });

  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
    alice = await registerUser(api);
  });
  after(async () => {
    await server?.stop();
  });

  it("returns the server-default ruleset, under /pushrules/ and /pushrules/global/, on v3 and r0", async () => {
    const all = await api.get<{ global: Ruleset }>(`${V3}/pushrules/`, { token: alice.access_token });
    expect(all.status).to.equal(200);
    const global = all.body.global;
    expect(global.override[0]).to.deep.include({ rule_id: ".m.rule.master", default: true, enabled: false });
    expect(ids(global.override)).to.include.members([".m.rule.suppress_notices", ".m.rule.invite_for_me", ".m.rule.is_user_mention", ".m.rule.is_room_mention"]);
    expect(ids(global.underride)).to.deep.equal([".m.rule.call", ".m.rule.encrypted_room_one_to_one", ".m.rule.room_one_to_one", ".m.rule.message", ".m.rule.encrypted"]);
    // The mention rule is personalised with the user's own ID.
    const mention = global.override.find((r) => r.rule_id === ".m.rule.is_user_mention")!;
    expect(JSON.stringify(mention.conditions)).to.contain(alice.user_id);
    expect(global.content).to.deep.equal([]);
    expect(await ruleset()).to.deep.equal(global);
    // r0 is not in the current spec's OpenAPI, so it is compared with v3 rather than validated.
    const r0 = await api.get<{ global: Ruleset }>("/_matrix/client/r0/pushrules/", { token: alice.access_token, unspecified: true });
    expect(r0.body.global).to.deep.equal(global);
  });

  it("creates user rules most important first, honours before/after, and keeps a rule's place on update", async () => {
    const bob = await registerUser(api);
    expect((await put(bob, "content", "cake", { pattern: "cake", actions: ["notify"] })).status).to.equal(200);
    // A new rule without before/after becomes the most important user rule.
    expect((await put(bob, "content", "tea", { pattern: "tea", actions: ["notify"] })).status).to.equal(200);
    expect(ids((await ruleset(bob)).content)).to.deep.equal(["tea", "cake"]);
    // before wins over after when both are given.
    expect((await put(bob, "content", "pie", { pattern: "pie", actions: [] }, "?before=cake&after=tea")).status).to.equal(200);
    expect(ids((await ruleset(bob)).content)).to.deep.equal(["tea", "pie", "cake"]);
    expect((await put(bob, "content", "jam", { pattern: "jam", actions: ["notify"] }, "?after=cake")).status).to.equal(200);
    expect(ids((await ruleset(bob)).content)).to.deep.equal(["tea", "pie", "cake", "jam"]);

    // An update without before/after keeps its place and changes the rule.
    expect((await put(bob, "content", "pie", { pattern: "pie*", actions: ["notify", { set_tweak: "sound", value: "pie.wav" }] })).status).to.equal(200);
    const rules = (await ruleset(bob)).content;
    expect(ids(rules)).to.deep.equal(["tea", "pie", "cake", "jam"]);
    expect(rules[1]).to.deep.equal({ rule_id: "pie", default: false, enabled: true, pattern: "pie*", actions: ["notify", { set_tweak: "sound", value: "pie.wav" }] });
    // ...or moves with before/after.
    expect((await put(bob, "content", "tea", { pattern: "tea", actions: ["notify"] }, "?after=jam")).status).to.equal(200);
    expect(ids((await ruleset(bob)).content)).to.deep.equal(["pie", "cake", "jam", "tea"]);

    // User override rules come after .m.rule.master but before the other defaults.
    const conditions = [{ kind: "event_match", key: "content.body", pattern: "beer" }, { kind: "room_member_count", is: "<=10" }];
    expect((await put(bob, "override", "beer", { conditions, actions: ["notify"] })).status).to.equal(200);
    const override = (await ruleset(bob)).override;
    expect(ids(override).slice(0, 3)).to.deep.equal([".m.rule.master", "beer", ".m.rule.suppress_notices"]);
    const one = await api.get<Rule>(rulePath("override", "beer"), { token: bob.access_token });
    expect(one.body).to.deep.equal({ rule_id: "beer", default: false, enabled: true, conditions, actions: ["notify"] });

    // Room and sender rules are keyed by the room or user ID (characters that need escaping in the path).
    expect((await put(bob, "room", "!quiet:localhost", { actions: [] })).status).to.equal(200);
    expect((await put(bob, "sender", "@spam:localhost", { actions: ["dont_notify"] })).status).to.equal(200);
    const after = await ruleset(bob);
    expect(after.room).to.deep.equal([{ rule_id: "!quiet:localhost", default: false, enabled: true, actions: [] }]);
    // The historical dont_notify action is stripped.
    expect(after.sender).to.deep.equal([{ rule_id: "@spam:localhost", default: false, enabled: true, actions: [] }]);

    // Deleting a user rule; then it is gone.
    expect((await api.delete(rulePath("content", "cake"), { token: bob.access_token })).status).to.equal(200);
    expect(ids((await ruleset(bob)).content)).to.deep.equal(["pie", "jam", "tea"]);
    const gone = await api.get(rulePath("content", "cake"), { token: bob.access_token });
    expect(gone.status).to.equal(404);
    expect(gone.body.errcode).to.equal("M_NOT_FOUND");
    // Another user's rules are untouched.
    expect((await ruleset()).content).to.deep.equal([]);
  });

  it("enables and disables default and user rules, and changes their actions", async () => {
    const carol = await registerUser(api);
    const enabled = (kind: string, id: string) => api.get<{ enabled: boolean }>(`${rulePath(kind, id)}/enabled`, { token: carol.access_token });
    expect((await enabled("underride", ".m.rule.message")).body).to.deep.equal({ enabled: true });
    expect((await api.put(`${rulePath("underride", ".m.rule.message")}/enabled`, { enabled: false }, { token: carol.access_token })).status).to.equal(200);
    expect((await enabled("underride", ".m.rule.message")).body).to.deep.equal({ enabled: false });
    const message = (await ruleset(carol)).underride.find((r) => r.rule_id === ".m.rule.message")!;
    expect(message).to.deep.include({ default: true, enabled: false, actions: ["notify"] });

    // The master rule switches everything off.
    expect((await api.put(`${rulePath("override", ".m.rule.master")}/enabled`, { enabled: true }, { token: carol.access_token })).status).to.equal(200);
    expect((await ruleset(carol)).override[0]).to.deep.include({ rule_id: ".m.rule.master", enabled: true });

    const actionsPath = `${rulePath("underride", ".m.rule.message")}/actions`;
    const actions = ["notify", { set_tweak: "sound", value: "ping" }];
    expect((await api.put(actionsPath, { actions: [...actions, "coalesce"] }, { token: carol.access_token })).status).to.equal(200);
    expect((await api.get(actionsPath, { token: carol.access_token })).body).to.deep.equal({ actions });
    // Enabled and actions changes are independent of each other.
    expect((await enabled("underride", ".m.rule.message")).body).to.deep.equal({ enabled: false });

    // A user rule keeps its enabled flag across an update.
    await put(carol, "sender", "@noisy:localhost", { actions: ["notify"] });
    await api.put(`${rulePath("sender", "@noisy:localhost")}/enabled`, { enabled: false }, { token: carol.access_token });
    await put(carol, "sender", "@noisy:localhost", { actions: [] });
    expect((await api.get<Rule>(rulePath("sender", "@noisy:localhost"), { token: carol.access_token })).body).to.deep.include({ enabled: false, actions: [] });
    expect((await api.get(`${rulePath("sender", "@noisy:localhost")}/actions`, { token: carol.access_token })).body).to.deep.equal({ actions: [] });
  });

  it("answers the spec's errors: 404 for unknown rules and kinds, 400 for bad rule IDs, positions and bodies", async () => {
    const dave = await registerUser(api);
    const token = { token: dave.access_token };
    const expectError = (res: { status: number; body: Record<string, unknown> }, status: number, errcode: string) => {
      expect(res.status, JSON.stringify(res.body)).to.equal(status);
      expect(res.body.errcode).to.equal(errcode);
    };
    expectError(await api.get(rulePath("override", "nope"), token), 404, "M_NOT_FOUND");
    expectError(await api.get(`${rulePath("override", "nope")}/enabled`, token), 404, "M_NOT_FOUND");
    expectError(await api.get(`${rulePath("override", "nope")}/actions`, token), 404, "M_NOT_FOUND");
    expectError(await api.put(`${rulePath("override", "nope")}/enabled`, { enabled: true }, token), 404, "M_NOT_FOUND");
    expectError(await api.put(`${rulePath("override", "nope")}/actions`, { actions: [] }, token), 404, "M_NOT_FOUND");
    expectError(await api.delete(rulePath("override", "nope"), token), 404, "M_NOT_FOUND");
    // A default rule exists only under its own kind.
    expectError(await api.get(rulePath("override", ".m.rule.message"), token), 404, "M_NOT_FOUND");
    expectError(await api.get(rulePath("bogus", "x"), token), 404, "M_UNRECOGNIZED");
    expectError(await api.put(rulePath("bogus", "x"), { actions: [] }, token), 404, "M_UNRECOGNIZED");

    // Rule IDs starting with "." are reserved; slashes are refused; default rules cannot be deleted.
    expectError(await put(dave, "override", ".my.rule", { actions: [] }), 400, "M_UNKNOWN");
    expectError(await put(dave, "underride", ".m.rule.message", { conditions: [], actions: [] }), 400, "M_UNKNOWN");
    expectError(await put(dave, "content", "a/b", { pattern: "x", actions: [] }), 400, "M_UNKNOWN");
    expectError(await api.delete(rulePath("underride", ".m.rule.message"), token), 400, "M_UNKNOWN");
    // before/after must name an existing user rule of the same kind.
    expectError(await put(dave, "content", "x", { pattern: "x", actions: [] }, "?before=missing"), 400, "M_UNKNOWN");
    expectError(await put(dave, "override", "x", { actions: [] }, "?after=.m.rule.master"), 400, "M_UNKNOWN");
    // Bodies: actions required and valid, content rules need a pattern, conditions must be well formed.
    expectError(await put(dave, "override", "x", { conditions: [] }), 400, "M_BAD_JSON");
    expectError(await put(dave, "override", "x", { actions: ["beep"] }), 400, "M_BAD_JSON");
    expectError(await put(dave, "override", "x", { actions: [{ value: 1 }] }), 400, "M_BAD_JSON");
    expectError(await put(dave, "content", "x", { actions: [] }), 400, "M_BAD_JSON");
    expectError(await put(dave, "override", "x", { actions: [], conditions: [{ key: "type" }] }), 400, "M_BAD_JSON");
    expectError(await put(dave, "override", "x", { actions: [], conditions: "all" }), 400, "M_BAD_JSON");
    expectError(await api.request("PUT", rulePath("override", "x"), { ...token, raw: "{not json", headers: { "Content-Type": "application/json" } }), 400, "M_NOT_JSON");
    expectError(await api.put(`${rulePath("underride", ".m.rule.message")}/enabled`, { enabled: "yes" }, token), 400, "M_BAD_JSON");
    expectError(await api.put(`${rulePath("underride", ".m.rule.message")}/actions`, { actions: "notify" }, token), 400, "M_BAD_JSON");
    expectError(await api.get(`${V3}/pushrules/`), 401, "M_MISSING_TOKEN");
    // Nothing of the above was stored.
    const after = await ruleset(dave);
    expect([...after.override, ...after.content, ...after.underride].filter((r) => !r.default)).to.deep.equal([]);
    expect(after.underride.find((r) => r.rule_id === ".m.rule.message")).to.deep.include({ enabled: true, actions: ["notify"] });
  });

  it("delivers m.push_rules in account_data: the whole ruleset on initial sync and again when it changes", async () => {
    const erin = await registerUser(api);
    const pushRules = (s: Awaited<ReturnType<typeof sync>>) =>
      ((s as any).account_data.events as Array<{ type: string; content: { global: Ruleset } }>).find((e) => e.type === "m.push_rules");
    const initial = await sync(api, erin);
    expect(pushRules(initial)!.content).to.deep.equal({ global: await ruleset(erin) });

    // A change wakes a waiting long-poll and carries the new ruleset.
    const waiting = sync(api, erin, `?since=${initial.next_batch}&timeout=15000`);
    await new Promise((r) => setTimeout(r, 200));
    expect((await put(erin, "content", "lunch", { pattern: "lunch", actions: ["notify"] })).status).to.equal(200);
    const woke = await waiting;
    const changed = pushRules(woke)!.content.global;
    expect(ids(changed.content)).to.deep.equal(["lunch"]);
    expect(changed).to.deep.equal(await ruleset(erin));

    // Nothing new: the next incremental sync does not repeat it.
    const quiet = await sync(api, erin, `?since=${woke.next_batch}`);
    expect(pushRules(quiet)).to.equal(undefined);
    await api.put(`${rulePath("underride", ".m.rule.message")}/enabled`, { enabled: false }, { token: erin.access_token });
    const disabled = await sync(api, erin, `?since=${quiet.next_batch}`);
    expect(pushRules(disabled)!.content.global.underride.find((r) => r.rule_id === ".m.rule.message")!.enabled).to.equal(false);

    // The account data API shows the same ruleset and refuses to set it directly.
    const userPath = `${V3}/user/${encodeURIComponent(erin.user_id)}/account_data/m.push_rules`;
    expect((await api.get(userPath, { token: erin.access_token })).body).to.deep.equal({ global: await ruleset(erin) });
    const direct = await api.put(userPath, { global: {} }, { token: erin.access_token });
    expect(direct.status).to.equal(405);
  });
});
