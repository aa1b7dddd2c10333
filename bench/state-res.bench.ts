// State resolution benchmark (not a test): a synthetic public room with N
// state events forks in two, and each fork changes the same 10% of the keys
// (profile changes, moderator kicks, custom state, and one power levels change
// per fork). Resolves the two forks' states for N = 1k, 10k and 100k with the
// in-memory event source and prints time, memory and how time grows with N.
//
//   node_modules/.bin/node bench/state-res.bench.ts [room version …]   (default: 11 12)
import { availableParallelism, loadavg } from "node:os";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { RoomEvent, StateMap } from "../server/protocol/events.ts";
import { stateTuple } from "../server/protocol/events.ts";
import type { JsonObject } from "../server/protocol/json.ts";
import { getRoomVersion, type RoomVersion } from "../server/protocol/room-versions.ts";
import { InMemoryEventSource } from "../server/protocol/state-res/event-source.ts";
import { resolveState, type ResolveStateOptions } from "../server/protocol/state-res/index.ts";
import { separate } from "../server/protocol/state-res/v2.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const SIZES = [1_000, 10_000, 100_000];
const CONFLICTED_SHARE = 0.1;
const MODERATORS = 10;
/** A new power levels event every this many base events, so the mainline is long. */
const PL_EVERY = 1_000;

type Check = NonNullable<ResolveStateOptions["checkAuth"]>;

async function loadAuthCheck(): Promise<{ check: Check; label: string }> {
  try {
    const rules = (await import("../server/protocol/auth-rules.ts")) as { checkAuthRules: Check };
    return { check: rules.checkAuthRules, label: "real checkAuthRules (server/protocol/auth-rules.ts)" };
  } catch {
    return { check: () => ({ allowed: true }), label: "PERMISSIVE stand-in (auth-rules.ts not found): every event allowed" };
  }
}

/** Deterministic pseudo-random numbers (LCG), so every run builds the same room. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

interface SyntheticRoom {
  readonly events: RoomEvent[];
  readonly forks: [Map<string, string>, Map<string, string>];
}

function synthesize(version: RoomVersion, size: number): SyntheticRoom {
  const v12 = version.roomIdFromCreateEvent;
  const roomId = v12 ? "!create" : "!bench:example.com";
  const events: RoomEvent[] = [];
  const sharedPdu: JsonObject = {}; // the rules only read the pdu of create events and restricted joins
  let clock = 0;
  let last: RoomEvent | undefined;

  const emit = (type: string, stateKey: string, sender: string, content: JsonObject, auth: (RoomEvent | undefined)[]): RoomEvent => {
    const eventId = type === "m.room.create" ? "$create" : `$e${events.length}`;
    const authEventIds = auth
      .filter((e): e is RoomEvent => e !== undefined && !(v12 && e.type === "m.room.create"))
      .map((e) => e.eventId);
    const pdu = type === "m.room.create" ? (v12 ? {} : { room_id: roomId }) : sharedPdu;
    const event: RoomEvent = {
      eventId,
      roomId,
      type,
      stateKey,
      sender,
      content,
      originServerTs: clock++,
      depth: (last?.depth ?? 0) + 1,
      prevEventIds: last === undefined ? [] : [last.eventId],
      authEventIds,
      redacts: undefined,
      pdu,
    };
    events.push(event);
    last = event;
    return event;
  };

  const alice = "@alice:example.com";
  const mods = Array.from({ length: MODERATORS }, (_, i) => `@mod${i}:example.com`);
  const plContent = (tweak: number): JsonObject => {
    const users: JsonObject = v12 ? {} : { [alice]: 100 };
    for (const mod of mods) users[mod] = 50;
    return { users, users_default: 0, events: { "org.example.tweak": tweak % 100 } };
  };

  const state = new Map<string, string>();
  const put = (event: RoomEvent): RoomEvent => {
    state.set(stateTuple(event.type, event.stateKey as string), event.eventId);
    return event;
  };
  const create = put(emit("m.room.create", "", alice, { creator: alice, room_version: version.id }, []));
  const aliceJoin = put(emit("m.room.member", alice, alice, { membership: "join" }, [create]));
  let pl = put(emit("m.room.power_levels", "", alice, plContent(0), [create, aliceJoin]));
  const joinRules = put(emit("m.room.join_rules", "", alice, { join_rule: "public" }, [create, pl, aliceJoin]));
  const joins = new Map<string, RoomEvent>();
  for (const mod of mods) joins.set(mod, put(emit("m.room.member", mod, mod, { membership: "join" }, [create, pl, joinRules])));

  // The base: 80% member joins, 20% custom state, with power levels renewed every PL_EVERY events.
  const rnd = random(size);
  let n = 0;
  while (state.size < size) {
    n++;
    if (n % PL_EVERY === 0) {
      pl = put(emit("m.room.power_levels", "", alice, plContent(n), [create, pl, aliceJoin]));
    } else if (rnd() < 0.8) {
      const user = `@u${n}:example.com`;
      joins.set(user, put(emit("m.room.member", user, user, { membership: "join" }, [create, pl, joinRules])));
    } else {
      put(emit("org.example.state", `k${n}`, alice, { n }, [create, pl, aliceJoin]));
    }
  }

  // The forks. Each changes the power levels once, then the same keys differently.
  const forkA = new Map(state);
  const forkB = new Map(state);
  const plA = emit("m.room.power_levels", "", alice, plContent(-1), [create, pl, aliceJoin]);
  const plB = emit("m.room.power_levels", "", alice, plContent(-2), [create, pl, aliceJoin]);
  forkA.set(stateTuple(plA.type, ""), plA.eventId);
  forkB.set(stateTuple(plB.type, ""), plB.eventId);

  const candidates = [...state.keys()].filter((key) => key.startsWith("m.room.member\u0000@u") || key.startsWith("org.example.state"));
  const wanted = Math.min(Math.round(size * CONFLICTED_SHARE) - 1, candidates.length); // the power levels are the other one
  for (let i = 0; i < wanted; i++) {
    // Partial Fisher–Yates shuffle: a random key not picked before.
    const pick = i + Math.floor(rnd() * (candidates.length - i));
    const key = candidates[pick] as string;
    candidates[pick] = candidates[i] as string;
    const mod = mods[i % MODERATORS] as string;
    if (key.startsWith("m.room.member")) {
      const user = key.slice("m.room.member\u0000".length);
      const join = joins.get(user) as RoomEvent;
      const a = emit("m.room.member", user, user, { membership: "join", displayname: `a${i}` }, [create, plA, join, joinRules]);
      const b =
        rnd() < 0.3
          ? emit("m.room.member", user, mod, { membership: "leave" }, [create, plB, joins.get(mod), join])
          : emit("m.room.member", user, user, { membership: "join", displayname: `b${i}` }, [create, plB, join, joinRules]);
      forkA.set(key, a.eventId);
      forkB.set(key, b.eventId);
    } else {
      const stateKey = key.slice("org.example.state\u0000".length);
      const a = emit("org.example.state", stateKey, alice, { fork: "a" }, [create, plA, aliceJoin]);
      const b = emit("org.example.state", stateKey, mod, { fork: "b" }, [create, plB, joins.get(mod)]);
      forkA.set(key, a.eventId);
      forkB.set(key, b.eventId);
    }
  }
  return { events, forks: [forkA, forkB] };
}

interface Measurement {
  size: number;
  events: number;
  conflicted: number;
  /** Best wall time and best CPU time (all threads, so GC helpers count) over the runs. */
  wallMs: number;
  cpuMs: number;
  medianWallMs: number;
  heapDeltaMb: number;
  peakRssMb: number;
}

const mb = (bytes: number): number => bytes / 2 ** 20;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

async function measure(version: RoomVersion, size: number, check: Check, runs: number): Promise<Measurement> {
  const room = synthesize(version, size);
  const source = new InMemoryEventSource(room.events);
  const sets: StateMap[] = room.forks;
  const conflicted = separate(sets).conflicted.size;
  const walls: number[] = [];
  const cpus: number[] = [];
  let heapDelta = 0;
  for (let i = 0; i < runs; i++) {
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const resolved = await resolveState(version, sets, source, { checkAuth: check });
    const wall = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    heapDelta = Math.max(heapDelta, process.memoryUsage().heapUsed - heapBefore);
    walls.push(wall);
    cpus.push((cpu.user + cpu.system) / 1000);

    // Sanity: every key resolved, and both forks' power levels (Alice's, the later one last) applied in order.
    if (resolved.size !== size) throw new Error(`resolved ${resolved.size} keys, expected ${size}`);
    const pl = stateTuple("m.room.power_levels", "");
    if (resolved.get(pl) !== room.forks[1].get(pl)) throw new Error("unexpected power levels winner");
  }
  return {
    size,
    events: room.events.length,
    conflicted,
    wallMs: Math.min(...walls),
    cpuMs: Math.min(...cpus),
    medianWallMs: median(walls),
    heapDeltaMb: mb(heapDelta),
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  };
}

function pad(value: string | number, width: number): string {
  return String(value).padStart(width);
}

const { check, label } = await loadAuthCheck();
const versions = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ["11", "12"];
const RUNS: Record<number, number> = { 1_000: 9, 10_000: 7, 100_000: 3 };
console.log(`state resolution benchmark: two forks, ${CONFLICTED_SHARE * 100}% of keys conflicted; auth check: ${label}`);
console.log(`node ${process.version}, ${availableParallelism()} CPUs, load average at start ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
console.log("time: best wall / best CPU (process, all threads) / median wall over 9, 7 and 3 runs; heap Δ: largest heapUsed growth during a run");
console.log("(no GC inside the run, so it counts garbage too); peak RSS: the process's maximum so far, synthetic room included");
for (const id of versions) {
  const version = getRoomVersion(id);
  if (version === undefined) throw new Error(`unknown room version ${id}`);
  console.log(`\nroom version ${id} (state resolution ${version.stateResolution})`);
  await measure(version, 10_000, check, 2); // warm-up: JIT-compile before measuring
  console.log(
    `${pad("state", 7)} ${pad("events", 7)} ${pad("confl.", 6)} ${pad("wall ms", 8)} ${pad("cpu ms", 8)} ${pad("median", 8)} ${pad("heap Δ MB", 9)} ${pad("peak RSS MB", 11)}  ${pad("wall ×", 6)} ${pad("cpu ×", 6)}`,
  );
  let previous: Measurement | undefined;
  const growth: number[] = [];
  for (const size of SIZES) {
    const m = await measure(version, size, check, RUNS[size] ?? 3);
    const wallGrowth = previous === undefined ? undefined : m.wallMs / previous.wallMs;
    const cpuGrowth = previous === undefined ? undefined : m.cpuMs / previous.cpuMs;
    if (previous !== undefined) growth.push(Math.min(wallGrowth as number, cpuGrowth as number) / (m.size / previous.size));
    console.log(
      `${pad(size, 7)} ${pad(m.events, 7)} ${pad(m.conflicted, 6)} ${pad(m.wallMs.toFixed(1), 8)} ${pad(m.cpuMs.toFixed(1), 8)} ${pad(m.medianWallMs.toFixed(1), 8)} ${pad(m.heapDeltaMb.toFixed(1), 9)} ${pad(m.peakRssMb.toFixed(0), 11)}  ${pad(wallGrowth === undefined ? "-" : wallGrowth.toFixed(1), 6)} ${pad(cpuGrowth === undefined ? "-" : cpuGrowth.toFixed(1), 6)}`,
    );
    previous = m;
  }
  // Linear work grows 10× per 10× state; n log n about 12×; quadratic 100×.
  const worst = Math.max(...growth);
  console.log(
    `growth per 10× state divided by 10 (1.0 = linear, 10 = quadratic): ${growth.map((g) => g.toFixed(2)).join(", ")} → ${worst < 2.5 ? "near-linear" : "SUPER-LINEAR"}`,
  );
}
