// Acceptance with a real client: matrix-nio (Python) drives the two-user
// scenario against the real server process. spec/interop/nio/scenario.py runs
// with the virtualenv's python (.venv, made by scripts/python-venv.sh, which
// scripts/test.sh calls), records what nio's own sync loop delivered and
// prints it as JSON; the tests here assert on that record and compare the
// timelines nio assembled with the server's /messages.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { TestClient } from "../support/http-client.ts";
import { startServer, type RunningServer } from "../support/server-process.ts";
import { repoRoot } from "../support/spec-data.ts";
import { firstDifference, serverTimeline } from "./server-timeline.ts";

const PYTHON = join(repoRoot, ".venv/bin/python");
const SCRIPT = join(repoRoot, "spec/interop/nio/scenario.py");
const SCRIPT_TIMEOUT_MS = 100_000;

interface Step {
  ok: boolean;
  skipped?: boolean;
  error?: string;
  traceback?: string;
  seconds: number;
  [key: string]: any;
}

interface Summary {
  client: string;
  messages: number;
  room_id: string;
  users: Record<"alice" | "bob" | "charlie", string>;
  steps: Record<string, Step>;
  ids: { message_ids?: string[]; edit_id?: string; redaction_id?: string };
  warnings: string[];
}

function runScript(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((done, fail) => {
    const child = spawn(PYTHON, [SCRIPT, ...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGKILL"), SCRIPT_TIMEOUT_MS);
    child.once("error", (err) => {
      clearTimeout(timer);
      fail(err);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

describe("matrix-nio drives the two-user scenario (real client, real server process)", function () {
  this.timeout(SCRIPT_TIMEOUT_MS + 20_000);
  let server: RunningServer;
  let api: TestClient;
  let summary: Summary | undefined;
  let serverIds: string[] = [];

  before(async () => {
    server = await startServer({ config: { registration: { enabled: true } } });
    api = new TestClient(server.baseUrl);
  });
  after(async () => {
    await server?.stop();
  });
  beforeEach(function () {
    // The first test runs the script; without its summary the rest have nothing to check (that test says why).
    if (this.currentTest?.title !== runTitle && !summary) this.skip();
  });

  /** The named step of the script: fails with the script's own reason when that step failed. */
  const step = (name: string): Step => {
    const record = summary!.steps[name];
    expect(record, `scenario.py reported no step "${name}"`).to.not.equal(undefined);
    if (!record!.ok) throw new Error(`matrix-nio step "${name}" failed: ${record!.error}${record!.traceback ? `\n${record!.traceback}` : ""}`);
    return record!;
  };

  const runTitle = "runs spec/interop/nio/scenario.py with the pinned matrix-nio from .venv";
  it(runTitle, async () => {
    if (!existsSync(PYTHON)) {
      throw new Error(
        `${PYTHON} is missing: the matrix-nio test needs the virtualenv that scripts/python-venv.sh creates ` +
          "(it runs as part of npm test and needs python3 with venv and access to PyPI). Run: bash scripts/python-venv.sh",
      );
    }
    const run = await runScript([server.baseUrl]);
    const last = run.stdout.trim().split("\n").at(-1) ?? "";
    try {
      summary = JSON.parse(last) as Summary;
    } catch {
      throw new Error(`scenario.py printed no JSON summary (exit ${run.code} after ${run.ms} ms)\nstdout: ${run.stdout.slice(-2000)}\nstderr: ${run.stderr.slice(-3000)}`);
    }
    expect(summary.client).to.equal("matrix-nio");
    expect([0, 1], `scenario.py exit code (stderr: ${run.stderr.slice(-1000)})`).to.include(run.code);
  });

  it("registers and logs in three users, and starts alice's and bob's sync loops", () => {
    const { users } = step("register and log in");
    for (const name of ["alice", "bob", "charlie"]) expect(users[name]).to.match(new RegExp(`^@nio_${name}_[0-9a-f]+:localhost$`));
  });

  it("alice creates a room and invites bob, who sees the invite in his sync and joins; charlie joins too", () => {
    expect(step("create, invite, join").room_id).to.match(/^!/);
  });

  it("exchanges messages that both sync loops deliver in the same order", () => {
    const { message_ids: ids, bodies } = step("exchange messages");
    expect(ids).to.have.length(summary!.messages);
    expect(new Set(ids).size).to.equal(ids.length);
    const expected = ids.map((_id: string, i: number) => `message ${i} from ${i % 2 === 0 ? "alice" : "bob"}`);
    for (const name of ["alice", "bob"]) {
      expect(bodies[name], `${name}'s bodies`).to.deep.equal(expected);
      const live = (step("paginate").live[name] as string[]).filter((id) => ids.includes(id));
      expect(live, `${name}'s sync loop order: ${firstDifference(live, ids)}`).to.deep.equal(ids);
    }
  });

  it("alice edits a message (m.replace): bob's sync delivers the edit", () => {
    const { target, bob_saw: seen } = step("edit");
    expect(seen.content["m.relates_to"]).to.deep.equal({ rel_type: "m.replace", event_id: target });
    expect(seen.content["m.new_content"]).to.deep.equal({ msgtype: "m.text", body: "edited by alice" });
    expect(seen.nio_class).to.equal("RoomMessageText");
  });

  it("bob redacts his message: alice's nio receives a RedactionEvent for it", () => {
    const { target, alice_saw: seen } = step("redact");
    expect(seen.nio_class).to.equal("RedactionEvent");
    expect(seen.redacts).to.equal(target);
  });

  it("typing and read receipts from one user appear in the other's sync", () => {
    const { bob_typing_seen: typing, alice_receipts_seen: receipts } = step("typing and receipts");
    const alice = summary!.users.alice;
    expect(typing.some((users: string[]) => users.includes(alice)), "bob saw alice typing").to.equal(true);
    expect(typing.at(-1), "bob saw alice stop typing").to.not.include(alice);
    expect(receipts, "alice saw bob's m.read receipt").to.deep.include({ event_id: step("edit").edit_id, user_id: summary!.users.bob, type: "m.read" });
  });

  it("room name and topic changes arrive in both clients", () => {
    const seen = step("name and topic");
    for (const name of ["alice", "bob"]) expect(seen[name]).to.deep.equal({ name: "interop renamed", topic: "second topic" });
  });

  it("alice kicks charlie, who may rejoin, then bans him; his join is refused", () => {
    const { membership_seen: seen, rejoin_after_ban: refused } = step("kick and ban");
    for (const name of ["alice", "bob"]) expect(seen[name], `${name}'s view of charlie`).to.deep.equal(["leave", "join", "ban"]);
    expect(refused).to.deep.equal({ http_status: 403, errcode: "M_FORBIDDEN" });
  });

  it("both clients paginate back to the room's creation and hold the same timeline, in the server's /messages order", async () => {
    const { history, live, limited_after_first_sync: limited, access_token: token } = step("paginate");
    const serverEvents = await serverTimeline(api, token, summary!.room_id);
    serverIds = serverEvents.map((e) => e.event_id);
    expect(serverIds.length).to.be.greaterThan(summary!.messages);
    const { message_ids: messageIds, redaction_id: redactionId } = summary!.ids;
    const redacted = serverEvents.find((e) => e.event_id === messageIds?.at(-1));
    expect(redacted?.content, "the server serves bob's redacted message without content").to.deep.equal({});
    expect(redacted?.unsigned?.redacted_because?.event_id).to.equal(redactionId);
    for (const name of ["alice", "bob"]) {
      expect(limited[name], `${name}'s incremental syncs were limited (a gap in the live timeline)`).to.equal(0);
      expect(history[name], `${name} vs server: ${firstDifference(history[name], serverIds)}`).to.deep.equal(serverIds);
    }
    // What the sync loops delivered live, from bob's join on, is the same sequence for both, and the server's.
    const joinAt = serverIds.findIndex((id) => (live.bob as string[]).includes(id));
    const fromJoin = serverIds.slice(joinAt);
    const aliceLive = (live.alice as string[]).slice((live.alice as string[]).indexOf(fromJoin[0]!));
    expect(aliceLive, `live alice vs bob: ${firstDifference(aliceLive, live.bob)}`).to.deep.equal(live.bob);
    expect(live.bob, `live bob vs server: ${firstDifference(live.bob, fromJoin)}`).to.deep.equal(fromJoin);
  });

  it("fresh devices of both users start from the last 10 events and paginate back through the whole history", async () => {
    const fresh = step("fresh devices");
    if (serverIds.length === 0) serverIds = (await serverTimeline(api, step("paginate").access_token, summary!.room_id)).map((e) => e.event_id);
    for (const name of ["alice", "bob"]) {
      const device = fresh[name];
      expect(device.initial.length, `${name}'s second device: initial timeline size`).to.be.within(1, 10);
      expect(device.limited).to.equal(true);
      expect(device.initial).to.deep.equal(serverIds.slice(-device.initial.length));
      expect(device.history, `${name}'s second device vs server: ${firstDifference(device.history, serverIds)}`).to.deep.equal(serverIds);
      expect(device.pages, "GET /messages pages").to.be.at.least(Math.ceil((serverIds.length - 10) / 50));
      expect(device.room_name).to.equal("interop renamed");
    }
  });

  it("nio parsed every event the server sent (no BadEvent), and logged no warnings", () => {
    const bad = ["alice", "bob"].flatMap((name) => (summary!.steps["fresh devices"]?.[name]?.classes ?? []).filter((c: string) => /Bad/.test(c)).map((c: string) => `${name}: ${c}`));
    const warnings = [...new Set(summary!.warnings)].map((w) => `${w} (x${summary!.warnings.filter((x) => x === w).length})`);
    expect(warnings, warnings.join("\n")).to.deep.equal([]);
    expect(bad).to.deep.equal([]);
  });
});
