// The caching wrapper: each event (and each rejection status) is asked of the
// underlying source at most once, known-missing ids are not asked again.
import { expect } from "chai";
import { getRoomVersion, type RoomVersion } from "../../../../server/protocol/room-versions.ts";
import { CachingEventSource, InMemoryEventSource } from "../../../../server/protocol/state-res/event-source.ts";
import { ALICE, Dag, topic } from "./dag.ts";

describe("caching event source", () => {
  const dag = new Dag(getRoomVersion("11") as RoomVersion);
  dag.add({ id: "CREATE", sender: ALICE, type: "m.room.create", stateKey: "", content: {}, prev: [], auth: [] });
  dag.add({ ...topic("A", ALICE), prev: [], auth: ["CREATE"] });
  dag.add({ ...topic("B", ALICE), prev: [], auth: ["CREATE"] });

  it("fetches each event and each missing id once", async () => {
    const inner = new InMemoryEventSource(dag.events.values());
    const cached = new CachingEventSource(inner);
    const first = await cached.getEvents([dag.id("A"), "$gone"]);
    expect([...first.keys()]).to.deep.equal([dag.id("A")]);
    const second = await cached.getEvents([dag.id("A"), dag.id("B"), "$gone", dag.id("B")]);
    expect([...second.keys()]).to.deep.equal([dag.id("A"), dag.id("B")]);
    expect(inner.requested).to.equal(3);
    expect(inner.calls).to.equal(2);
    expect(cached.peek(dag.id("B"))?.type).to.equal("m.room.topic");
    await cached.getEvents([dag.id("A"), "$gone"]);
    expect(inner.calls).to.equal(2);
  });

  it("caches rejection status, and reports none when the source cannot tell", async () => {
    const cached = new CachingEventSource(new InMemoryEventSource(dag.events.values(), [dag.id("B")]));
    expect([...(await cached.getRejectedIds([dag.id("A"), dag.id("B")]))]).to.deep.equal([dag.id("B")]);
    const blind = new CachingEventSource({ getEvents: (ids) => new InMemoryEventSource(dag.events.values()).getEvents(ids) });
    expect((await blind.getRejectedIds([dag.id("B")])).size).to.equal(0);
  });
});
