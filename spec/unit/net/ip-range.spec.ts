// IP parsing, CIDR ranges and the outbound address policy (server/net/ip-range.ts).
import { expect } from "chai";
import { createAddressPolicy, embeddedIpv4, parseIp, parseIpRange, rangeContains } from "../../../server/net/ip-range.ts";

describe("IP ranges", () => {
  it("parses IPv4 and IPv6 text forms to the same numbers", () => {
    expect(parseIp("10.1.2.3")).to.deep.equal({ family: 4, value: 0x0a010203n });
    expect(parseIp("::1")).to.deep.equal({ family: 6, value: 1n });
    expect(parseIp("[::1]")).to.deep.equal({ family: 6, value: 1n });
    expect(parseIp("2001:db8::ff00:42:8329")!.value).to.equal(parseIp("2001:0db8:0000:0000:0000:ff00:0042:8329")!.value);
    expect(parseIp("::ffff:127.0.0.1")!.value).to.equal(parseIp("::ffff:7f00:1")!.value);
    expect(parseIp("fe80::1%eth0")!.value).to.equal(parseIp("fe80::1")!.value);
  });

  for (const bad of ["256.1.1.1", "1.2.3", "01.2.3.4", "1:2:3:4:5:6:7:8:9", "1::2::3", "::ffff:1.2.3.4.5", "example.org", "", ":::", "1.2.3.4::"]) {
    it(`refuses ${JSON.stringify(bad)}`, () => expect(parseIp(bad)).to.equal(undefined));
  }

  it("matches CIDR ranges of both families, and not across families", () => {
    const r = parseIpRange("172.16.0.0/12");
    expect(rangeContains(r, parseIp("172.31.255.255")!)).to.equal(true);
    expect(rangeContains(r, parseIp("172.32.0.0")!)).to.equal(false);
    const v6 = parseIpRange("fc00::/7");
    expect(rangeContains(v6, parseIp("fd12:3456::1")!)).to.equal(true);
    expect(rangeContains(v6, parseIp("fe00::1")!)).to.equal(false);
    expect(rangeContains(parseIpRange("0.0.0.0/0"), parseIp("::1")!)).to.equal(false);
    expect(rangeContains(parseIpRange("127.0.0.1"), parseIp("127.0.0.1")!)).to.equal(true);
    expect(() => parseIpRange("10.0.0.0/33")).to.throw();
    expect(() => parseIpRange("nonsense/8")).to.throw();
  });

  it("finds the IPv4 address inside mapped, compatible and NAT64 IPv6 forms", () => {
    expect(embeddedIpv4(parseIp("::ffff:10.0.0.1")!)).to.deep.equal(parseIp("10.0.0.1"));
    expect(embeddedIpv4(parseIp("64:ff9b::7f00:1")!)).to.deep.equal(parseIp("127.0.0.1"));
    expect(embeddedIpv4(parseIp("::192.168.1.1")!)).to.deep.equal(parseIp("192.168.1.1"));
    expect(embeddedIpv4(parseIp("::1")!)).to.equal(undefined);
    expect(embeddedIpv4(parseIp("2001:db8::1")!)).to.equal(undefined);
  });

  describe("the default policy", () => {
    const policy = createAddressPolicy();
    const refused = [
      "127.0.0.1", "127.255.0.9", "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1", "169.254.169.254", "0.0.0.0", "224.0.0.1",
      "255.255.255.255", "198.18.0.1", "192.0.2.1", "::1", "::", "fe80::1", "fc00::1", "fd00::abcd", "ff02::1", "fec0::1", "2001:db8::1",
      "::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a00:1", "::127.0.0.1", "not-an-ip",
    ];
    for (const address of refused) it(`refuses ${address}`, () => expect(policy.refusal(address)).to.be.a("string"));
    for (const address of ["1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8", "172.32.0.1", "100.128.0.1"]) {
      it(`allows ${address}`, () => expect(policy.refusal(address)).to.equal(undefined));
    }
    it("names the range in its refusal", () => expect(policy.refusal("192.168.1.1")).to.contain("192.168.0.0/16"));
  });

  it("an allowlist carves exceptions out of the blocklist, mapped forms included; the unspecified address stays refused", () => {
    const policy = createAddressPolicy({ allowlist: ["127.0.0.1"] });
    expect(policy.refusal("127.0.0.1")).to.equal(undefined);
    expect(policy.refusal("::ffff:127.0.0.1")).to.equal(undefined);
    expect(policy.refusal("127.0.0.2")).to.be.a("string");
    expect(createAddressPolicy({ blocklist: [] }).refusal("10.0.0.1")).to.equal(undefined);
    expect(createAddressPolicy({ blocklist: [] }).refusal("0.0.0.0")).to.be.a("string");
    expect(createAddressPolicy({ blocklist: [] }).refusal("::")).to.be.a("string");
  });
});
