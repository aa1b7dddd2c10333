// State resolution v1 (room version 1): power levels, join rules and
// memberships are settled first, then other keys by depth and sha1(event_id).
import { expect } from "chai";
import { createHash } from "node:crypto";
import { stateTuple } from "../../../../server/protocol/events.ts";
import { getRoomVersion, type RoomVersion } from "../../../../server/protocol/room-versions.ts";
import { resolveState } from "../../../../server/protocol/state-res/index.ts";
import { ALICE, BOB, buildRoom, changedState, expectedState, powerLevels, topic } from "./dag.ts";

const V1 = getRoomVersion("1") as RoomVersion;
const TOPIC = stateTuple("m.room.topic", "");

function sha1(text: string): string {
  return createHash("sha1").update(text, "utf8").digest("hex");
}

describe("state resolution v1 (room version 1)", () => {
  it("resolves power levels first, so a deeper topic from a demoted user loses to a shallower allowed one", async () => {
    const room = await buildRoom(
      V1,
      [
        powerLevels("PB50", ALICE, { [ALICE]: 100, [BOB]: 50 }),
        powerLevels("PDEMOTE", ALICE, { [ALICE]: 100, [BOB]: 0 }),
        topic("TA", ALICE),
        topic("TB1", BOB),
        topic("TB2", BOB),
        topic("TB3", BOB),
      ],
      [
        ["END", "TA", "PDEMOTE", "PB50", "START"],
        ["END", "TB3", "TB2", "TB1", "PB50"],
      ],
    );
    const end = room.stateBefore.get("END") as Map<string, string>;
    expect(room.dag.node("TB3").depth).to.be.greaterThan(room.dag.node("TA").depth);
    expect(changedState(room, end, ["PDEMOTE", "TA"])).to.deep.equal(expectedState(room, ["PDEMOTE", "TA"]));
  });

  it("among allowed events of equal depth picks the lowest sha1(event_id)", async () => {
    const room = await buildRoom(
      V1,
      [topic("TX", ALICE), topic("TY", ALICE), topic("TZ", ALICE)],
      [
        ["END", "TX", "START"],
        ["END", "TY", "START"],
        ["END", "TZ", "START"],
      ],
    );
    const ids = ["TX", "TY", "TZ"].map((n) => room.dag.id(n));
    const lowest = [...ids].sort((a, b) => (sha1(a) < sha1(b) ? -1 : 1))[0];
    const end = room.stateBefore.get("END") as Map<string, string>;
    expect(end.get(TOPIC)).to.equal(lowest);
  });

  it("falls back to the lowest-depth event when no candidate is allowed", async () => {
    const room = await buildRoom(
      V1,
      [
        powerLevels("PB50", ALICE, { [ALICE]: 100, [BOB]: 50 }),
        topic("TS", BOB),
        powerLevels("PDEMOTE", ALICE, { [ALICE]: 100, [BOB]: 0 }),
        topic("TB1", BOB),
        topic("TB2", BOB),
      ],
      [
        ["END", "PDEMOTE", "TS", "PB50", "START"],
        ["END", "TB2", "TB1", "TS"],
      ],
    );
    const end = room.stateBefore.get("END") as Map<string, string>;
    expect(end.get(stateTuple("m.room.power_levels", ""))).to.equal(room.dag.id("PDEMOTE"));
    expect(end.get(TOPIC)).to.equal(room.dag.id("TS"));
  });

  it("does not count a key that only some sets hold as a conflict", async () => {
    const room = await buildRoom(V1, [topic("T1", ALICE)], [["END", "T1", "START"], ["END", "START"]]);
    const source = room.dag.source();
    const resolved = await resolveState(V1, [room.stateAfter.get("T1") as Map<string, string>, room.stateAfter.get("START") as Map<string, string>], source);
    expect(resolved.get(TOPIC)).to.equal(room.dag.id("T1"));
    expect(source.calls).to.equal(0);
  });
});
