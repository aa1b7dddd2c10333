import { expect } from "chai";
import {
  isReservedRoomVersionId,
  isValidEventId,
  isValidIpv6,
  isValidNewLocalpart,
  isValidRoomAlias,
  isValidRoomId,
  isValidRoomVersionId,
  isValidServerName,
  isValidUserId,
  mapToUserIdLocalpart,
  parseServerName,
  serverNameOf,
} from "../../../server/protocol/identifiers.ts";
import { ROOM_VERSIONS } from "../../../server/protocol/room-versions.ts";
import type { RoomVersion } from "../../../server/protocol/room-versions.ts";
import { loadTestVectors } from "../../support/spec-data.ts";
import type { TestVector } from "../../support/spec-data.ts";

function vector(id: string): TestVector {
  const found = loadTestVectors().vectors.find((v) => v.id === id);
  if (found === undefined) throw new Error(`test vector ${id} is missing`);
  return found;
}

function version(id: string): RoomVersion {
  const v = ROOM_VERSIONS.get(id);
  if (v === undefined) throw new Error(`room version ${id} is missing`);
  return v;
}

const hash43 = "Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ";
const hash43Standard = "Nhcu5BS+UMnFX7hBVfVSoXiD7OgH6iRT/xyIuqDnpYQ";

describe("protocol/identifiers", () => {
  describe("server names", () => {
    it("vector server-name-valid", () => {
      const cases = vector("server-name-valid").cases as { input: string; expected_valid: boolean }[];
      expect(cases).to.have.length.greaterThan(0);
      for (const c of cases) expect(isValidServerName(c.input), c.input).to.equal(c.expected_valid);
    });

    it("splits host and port", () => {
      expect(parseServerName("matrix.org")).to.deep.equal({ host: "matrix.org", kind: "dns" });
      expect(parseServerName("matrix.org:8888")).to.deep.equal({ host: "matrix.org", kind: "dns", port: 8888 });
      expect(parseServerName("1.2.3.4:1234")).to.deep.equal({ host: "1.2.3.4", kind: "ipv4", port: 1234 });
      expect(parseServerName("[1234:5678::abcd]")).to.deep.equal({ host: "[1234:5678::abcd]", kind: "ipv6" });
      expect(parseServerName("[1234:5678::abcd]:5678")).to.deep.equal({ host: "[1234:5678::abcd]", kind: "ipv6", port: 5678 });
    });

    it("rejects names outside the grammar", () => {
      const invalid = [
        "",
        ":80",
        "matrix.org:",
        "matrix.org:123456",
        "matrix.org:8a",
        "matrix.org:80:80",
        "exa mple.org",
        "exa_mple.org",
        "ünicode.org",
        "1.2.3.256",
        "[1234:5678::abcd",
        "[1234::5678::abcd]",
        "[::1]x",
        "[::1]:",
        "[12345::]",
        "::1",
        "a".repeat(256),
      ];
      for (const name of invalid) expect(isValidServerName(name), name).to.equal(false);
      expect(isValidServerName("a".repeat(255))).to.equal(true);
    });

    it("validates IPv6 literals per RFC 3513", () => {
      for (const ok of ["::", "::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6::8", "::ffff:1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "ABCD::ef"]) {
        expect(isValidIpv6(ok), ok).to.equal(true);
      }
      for (const bad of [":", ":1", "1:", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3", "1:2:3:4::5:6:7:8", ":::", "1.2.3.4::", "::1.2.3.4:1", "12345::", "g::", "::1.2.3.256"]) {
        expect(isValidIpv6(bad), bad).to.equal(false);
      }
    });

    it("serverNameOf takes everything after the first colon", () => {
      expect(serverNameOf("@a:example.org:8448")).to.equal("example.org:8448");
      expect(serverNameOf("@a:[::1]:8448")).to.equal("[::1]:8448");
      expect(serverNameOf("!abc:example.org")).to.equal("example.org");
      expect(serverNameOf(`!${hash43}`)).to.equal(undefined);
      expect(serverNameOf(`$${hash43}`)).to.equal(undefined);
    });
  });

  describe("user IDs", () => {
    it("accepts current and historical user IDs", () => {
      for (const id of ["@alice:example.org", "@a/b+c=d_e.f-g:example.org:8448", "@a:[::1]", "@Alice:example.org", "@:example.org", "@ü ß\u0001:example.org"]) {
        expect(isValidUserId(id), id).to.equal(true);
      }
    });

    it("strict mode accepts only the current localpart grammar", () => {
      expect(isValidUserId("@alice:example.org", { strict: true })).to.equal(true);
      expect(isValidUserId("@a/b+c=d_e.f-g:example.org", { strict: true })).to.equal(true);
      for (const id of ["@Alice:example.org", "@:example.org", "@ü:example.org", "@a b:example.org", "@a#:example.org"]) {
        expect(isValidUserId(id, { strict: true }), id).to.equal(false);
      }
    });

    it("rejects malformed user IDs", () => {
      for (const id of ["alice:example.org", "@alice", "@alice:", "@alice:bad host", "@a\u0000b:example.org", "@\ud800:example.org", "#alice:example.org"]) {
        expect(isValidUserId(id), JSON.stringify(id)).to.equal(false);
      }
    });

    it("limits user IDs to 255 bytes, counting UTF-8 bytes", () => {
      const server = "example.org"; // "@" + localpart + ":" + server
      expect(isValidUserId(`@${"a".repeat(255 - 2 - server.length)}:${server}`)).to.equal(true);
      expect(isValidUserId(`@${"a".repeat(256 - 2 - server.length)}:${server}`)).to.equal(false);
      expect(isValidUserId(`@${"é".repeat(122)}:${server}`)).to.equal(false); // 244 + 13 bytes, 135 characters
    });

    it("isValidNewLocalpart applies the current grammar and the 255-byte total", () => {
      expect(isValidNewLocalpart("alice", "example.org")).to.equal(true);
      expect(isValidNewLocalpart("a.b_c=d-e/f+g", "example.org")).to.equal(true);
      for (const bad of ["", "Alice", "al ice", "alice:x", "ü"]) expect(isValidNewLocalpart(bad, "example.org"), bad).to.equal(false);
      expect(isValidNewLocalpart("a".repeat(255 - 13), "example.org")).to.equal(true);
      expect(isValidNewLocalpart("a".repeat(256 - 13), "example.org")).to.equal(false);
    });
  });

  describe("room IDs, event IDs and aliases", () => {
    it("rooms 1–11 use !opaque:server, room 12 the 43-character URL-safe hash", () => {
      for (const id of ["1", "6", "11"]) {
        expect(isValidRoomId("!abc:example.org", version(id))).to.equal(true);
        expect(isValidRoomId(`!${hash43}`, version(id))).to.equal(false);
      }
      expect(isValidRoomId(`!${hash43}`, version("12"))).to.equal(true);
      expect(isValidRoomId("!abc:example.org", version("12"))).to.equal(false);
      expect(isValidRoomId(`!${hash43Standard}`, version("12"))).to.equal(false);
      expect(isValidRoomId(`!${hash43.slice(1)}`, version("12"))).to.equal(false);
      expect(isValidRoomId(`!${hash43}`)).to.equal(true);
      expect(isValidRoomId("!abc:example.org")).to.equal(true);
      for (const bad of ["abc:example.org", "!abc", "!abc:", "!a\u0000:example.org", `$${hash43}`]) expect(isValidRoomId(bad), bad).to.equal(false);
      expect(isValidRoomId(`!${"a".repeat(256 - 13)}:example.org`)).to.equal(false);
    });

    it("event IDs follow the event format: $opaque:server, standard or URL-safe hash", () => {
      const v1 = version("1");
      const v3 = version("3");
      const v4 = version("4");
      expect(isValidEventId("$abc:example.org", v1)).to.equal(true);
      expect(isValidEventId(`$${hash43}`, v1)).to.equal(false);
      expect(isValidEventId(`$${hash43Standard}`, v3)).to.equal(true);
      expect(isValidEventId(`$${hash43}`, v3)).to.equal(false);
      expect(isValidEventId(`$${hash43}`, v4)).to.equal(true);
      expect(isValidEventId(`$${hash43Standard}`, v4)).to.equal(false);
      expect(isValidEventId("$abc:example.org", v4)).to.equal(false);
      for (const id of ["$abc:example.org", `$${hash43}`, `$${hash43Standard}`]) expect(isValidEventId(id), id).to.equal(true);
      for (const bad of ["abc:example.org", "$abc", `!${hash43}`, `$${hash43}A`]) expect(isValidEventId(bad), bad).to.equal(false);
    });

    it("room aliases are #localpart:server within 255 bytes", () => {
      expect(isValidRoomAlias("#room:example.org")).to.equal(true);
      expect(isValidRoomAlias("#Ünïcode room:example.org:8448")).to.equal(true);
      for (const bad of ["room:example.org", "#room", "#room:", "#a\u0000:example.org", "@room:example.org"]) expect(isValidRoomAlias(bad), bad).to.equal(false);
      expect(isValidRoomAlias(`#${"a".repeat(256 - 13)}:example.org`)).to.equal(false);
    });
  });

  describe("room versions", () => {
    it("vector room-version-valid", () => {
      const cases = vector("room-version-valid").cases as { input: string; expected_valid: boolean; expected_reserved_for_matrix: boolean }[];
      expect(cases).to.have.length.greaterThan(0);
      for (const c of cases) {
        expect(isValidRoomVersionId(c.input), c.input).to.equal(c.expected_valid);
        expect(isReservedRoomVersionId(c.input), c.input).to.equal(c.expected_reserved_for_matrix);
      }
    });

    it("rejects identifiers outside the grammar", () => {
      for (const bad of ["", "A", "1_2", "1 2", "v1!", "a".repeat(33)]) expect(isValidRoomVersionId(bad), bad).to.equal(false);
      expect(isValidRoomVersionId("a".repeat(32))).to.equal(true);
    });

    it("every version in the registry has a valid, reserved identifier", () => {
      for (const id of ROOM_VERSIONS.keys()) expect(isReservedRoomVersionId(id), id).to.equal(true);
    });
  });

  describe("mapping other character sets onto localparts", () => {
    it("vector user-id-localpart-mapping", () => {
      const cases = vector("user-id-localpart-mapping").cases as { input: string; expected: string; mode?: string }[];
      expect(cases).to.have.length.greaterThan(0);
      for (const c of cases) {
        if (c.mode === undefined) {
          // Cases without a mode hold for both variants.
          expect(mapToUserIdLocalpart(c.input), c.input).to.equal(c.expected);
          expect(mapToUserIdLocalpart(c.input, { caseEscaping: true }), c.input).to.equal(c.expected);
        } else {
          expect(c.mode).to.equal("case-escaping variant");
          expect(mapToUserIdLocalpart(c.input, { caseEscaping: true }), c.input).to.equal(c.expected);
        }
      }
    });

    it("lower-cases, escapes = and keeps the allowed punctuation", () => {
      expect(mapToUserIdLocalpart("Alice_B")).to.equal("alice_b");
      expect(mapToUserIdLocalpart("Alice_B", { caseEscaping: true })).to.equal("_alice___b");
      expect(mapToUserIdLocalpart("a=b")).to.equal("a=3db");
      expect(mapToUserIdLocalpart("a/b+c.d-e")).to.equal("a/b+c.d-e");
      expect(mapToUserIdLocalpart("a b:c")).to.equal("a=20b=3ac");
      expect(mapToUserIdLocalpart("\u{1f600}")).to.equal("=f0=9f=98=80");
    });

    it("always yields a valid new localpart", () => {
      for (const input of ["Hello World!", "日本語", "__Ab==", "\u0000"]) {
        expect(isValidNewLocalpart(mapToUserIdLocalpart(input, { caseEscaping: true }), "example.org"), input).to.equal(true);
      }
    });
  });
});
