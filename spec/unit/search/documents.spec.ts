// What the search index holds for an event (server/search/documents.ts), how
// highlights are read back (markedWords), next_batch tokens, and the
// admin-cli progress output.
import { expect } from "chai";
import fc from "fast-check";
import { createProgress } from "../../../admin-cli/progress.ts";
import { documentOf, replacedEventId } from "../../../server/search/documents.ts";
import { markedWords } from "../../../server/search/postgres-backend.ts";
import { decodeToken } from "../../../server/search/search-service.ts";
import type { StoredEvent } from "../../../server/storage/events.ts";

function stored(type: string, content: Record<string, unknown>, extra: Partial<StoredEvent> = {}): StoredEvent {
  return {
    nid: 1,
    eventId: "$e",
    roomId: "!r:x",
    type,
    stateKey: type === "m.room.message" ? null : "",
    sender: "@a:x",
    originServerTs: 5,
    depth: 3,
    streamOrdering: 7,
    stateGroupBefore: null,
    stateGroupAfter: null,
    rejectedReason: null,
    redactedBy: null,
    outlier: false,
    softFailed: false,
    pdu: JSON.stringify({ type, content }),
    ...extra,
  };
}

describe("search documents", () => {
  it("indexes a message's body, a name and a topic under their keys", () => {
    expect(documentOf(stored("m.room.message", { msgtype: "m.text", body: "hello" }), undefined)).to.deep.equal({
      eventId: "$e",
      roomId: "!r:x",
      sender: "@a:x",
      key: "content.body",
      body: "hello",
      originServerTs: 5,
      streamOrdering: 7,
    });
    expect(documentOf(stored("m.room.name", { name: "Lobby" }), undefined)?.key).to.equal("content.name");
    expect(documentOf(stored("m.room.topic", { topic: "Chat" }), undefined)?.key).to.equal("content.topic");
  });

  it("never indexes encrypted, redacted, rejected, soft-failed, unpositioned or empty events, nor edits themselves", () => {
    const edit = { body: "* x", "m.new_content": { body: "x" }, "m.relates_to": { rel_type: "m.replace", event_id: "$o" } };
    const cases: StoredEvent[] = [
      stored("m.room.encrypted", { ciphertext: "secret", algorithm: "m.megolm.v1.aes-sha2" }),
      stored("m.room.message", { body: "x" }, { redactedBy: "$r" }),
      stored("m.room.message", { body: "x" }, { rejectedReason: "auth" }),
      stored("m.room.message", { body: "x" }, { softFailed: true }),
      stored("m.room.message", { body: "x" }, { streamOrdering: null }),
      stored("m.room.message", { body: "   " }),
      stored("m.room.message", { body: 42 }),
      stored("m.room.message", edit),
      stored("m.room.name", { name: "odd" }, { stateKey: "not-empty" }),
    ];
    for (const event of cases) expect(documentOf(event, undefined), event.pdu).to.equal(undefined);
    expect(replacedEventId(stored("m.room.message", edit))).to.equal("$o");
  });

  it("takes the latest edit's m.new_content text for the original", () => {
    const edit = stored("m.room.message", { body: "* new", "m.new_content": { body: "new text" }, "m.relates_to": { rel_type: "m.replace", event_id: "$e" } }, { eventId: "$edit" });
    expect(documentOf(stored("m.room.message", { body: "old text" }), edit)).to.include({ eventId: "$e", body: "new text", streamOrdering: 7 });
    // An edit without new content keeps the original's text.
    const bare = stored("m.room.message", { body: "* new", "m.relates_to": { rel_type: "m.replace", event_id: "$e" } });
    expect(documentOf(stored("m.room.message", { body: "old text" }), bare)?.body).to.equal("old text");
  });

  it("reads the marked words of a ts_headline", () => {
    expect(markedWords("The \u0001Martians\u0002 met \u0001martian\u0002 kids")).to.deep.equal(["martians", "martian"]);
    expect(markedWords("nothing marked")).to.deep.equal([]);
    fc.assert(fc.property(fc.string(), (text) => Array.isArray(markedWords(text))));
  });

  it("refuses malformed next_batch tokens with M_INVALID_PARAM", () => {
    const good = Buffer.from(JSON.stringify({ o: "rank", c: { rank: 0.5, stream: 9 } })).toString("base64url");
    expect(decodeToken(good)).to.deep.equal({ o: "rank", c: { rank: 0.5, stream: 9 } });
    for (const bad of ["", "!!", Buffer.from("{}").toString("base64url"), Buffer.from(JSON.stringify({ o: "rank", c: { stream: "9" } })).toString("base64url")]) {
      expect(() => decodeToken(bad)).to.throw().with.property("errcode", "M_INVALID_PARAM");
    }
  });
});

describe("admin-cli progress", () => {
  const sink = (isTTY: boolean) => {
    const written: string[] = [];
    return { stream: { isTTY, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream, written };
  };

  it("redraws a bar in place on a terminal", () => {
    let now = 0;
    const { stream, written } = sink(true);
    const progress = createProgress(stream, "reindex", () => now);
    now = 1000;
    progress.update(50, 100);
    progress.finish();
    expect(written[0]).to.match(/^\rreindex \[#{15}\.{15}\] 50\/100 \(50%\) 50\/s ETA 1s/);
    expect(written[1]!.endsWith("\n")).to.equal(true);
  });

  it("writes plain lines at most every 5 s otherwise, and a last one", () => {
    let now = 0;
    const { stream, written } = sink(false);
    const progress = createProgress(stream, "reindex", () => now);
    for (let i = 1; i <= 10; i++) {
      now = i * 1000;
      progress.update(i, 10);
    }
    progress.finish();
    expect(written).to.have.length(3);
    expect(written.at(-1)).to.equal("reindex: 10/10 (100%) 1/s, done\n");
  });
});
