import { isIP } from "node:net";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileCidrs, MAX_CIDRS, parseAddress, parseCidr, parseCidrs } from "../../src/domain/cidr.js";

function matcher(...cidrs: string[]): (ip: string) => boolean {
  const parsed = parseCidrs(cidrs);
  if (!parsed.ok) throw new Error(parsed.error.message);
  return compileCidrs(parsed.value);
}

function text(input: string): string | undefined {
  const parsed = parseCidr(input);
  return parsed.ok ? parsed.value.text : undefined;
}

describe("parseCidr", () => {
  it.each([
    ["10.0.0.0/8", "10.0.0.0/8"],
    ["10.1.2.3", "10.1.2.3/32"],
    ["0.0.0.0/0", "0.0.0.0/0"],
    ["255.255.255.255/32", "255.255.255.255/32"],
    ["2001:DB8::/32", "2001:db8::/32"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1/128"],
    ["::", "::/128"],
    ["::/0", "::/0"],
    ["::1", "::1/128"],
    ["fe80::", "fe80::/128"],
    ["1:0:0:1:0:0:0:1", "1:0:0:1::1/128"],
    ["1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0/128"],
    ["::ffff:0:0/96", "::ffff:0.0.0.0/96"],
    ["::ffff:10.1.2.3", "::ffff:10.1.2.3/128"],
    ["64:ff9b::192.0.2.33", "64:ff9b::c000:221/128"],
  ])("accepts %s as %s", (input, canonical) => {
    expect(text(input)).toBe(canonical);
  });

  it.each([
    "",
    "10.0.0",
    "10.0.0.0.0",
    "256.0.0.0",
    "010.0.0.1",
    "10.0.0.1/33",
    "10.0.0.0/08",
    "10.0.0.0/",
    "10.0.0.0/-1",
    "::/129",
    "1::2::3",
    ":::",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7::8",
    "12345::",
    "g::",
    "fe80::1%eth0",
    "[::1]",
    "1.2.3.4::",
    "::1.2.3.4:5",
    " 10.0.0.1",
    "10.0.0.1 ",
    "localhost",
    "1".repeat(100),
  ])("refuses %j with a message", (input) => {
    const parsed = parseCidr(input);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok)
      expect(parsed.error).toMatchObject({ code: "invalid_argument", message: expect.any(String) });
  });

  it("refuses host bits and names the network meant", () => {
    const parsed = parseCidr("10.1.2.3/8");
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error.message).toContain("did you mean 10.0.0.0/8?");
    expect(parseCidr("2001:db8::1/32").ok).toBe(false);
  });

  it("clears host bits when asked, for values stored before they were checked", () => {
    const parsed = parseCidrs(["10.1.2.3/8", "10.0.0.0/8", "2001:db8::1/32"], true);
    expect(parsed.ok && parsed.value.map((c) => c.text)).toEqual(["10.0.0.0/8", "2001:db8::/32"]);
  });

  it("bounds a list and drops duplicates", () => {
    expect(parseCidrs(Array.from({ length: MAX_CIDRS + 1 }, (_, i) => `10.0.0.${i % 250}`)).ok).toBe(false);
    const parsed = parseCidrs(["10.0.0.0/8", "10.0.0.0/8", "::1"]);
    expect(parsed.ok && parsed.value.map((c) => c.text)).toEqual(["10.0.0.0/8", "::1/128"]);
  });

  it("property: accepts exactly the addresses Node's isIP accepts (no zone ids)", () => {
    const address = fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended(), fc.string({ maxLength: 20 }));
    fc.assert(
      fc.property(address, (ip) => {
        const expected = isIP(ip) !== 0 && !ip.includes("%");
        expect(parseAddress(ip, new Uint32Array(4)) !== undefined).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });
});

// The first parseIpv6, which split and matched each group with a regular expression: kept as the oracle
// for the one-pass parser that replaced it on the hot path.
function splitIpv6(text: string): number[] | undefined {
  const gap = text.indexOf("::");
  if (gap >= 0 && text.indexOf("::", gap + 1) >= 0) return undefined;
  const front = gap < 0 ? text.split(":") : text.slice(0, gap) === "" ? [] : text.slice(0, gap).split(":");
  const back = gap < 0 || text.slice(gap + 2) === "" ? [] : text.slice(gap + 2).split(":");
  const values: number[] = [];
  const parts = [...front, ...back];
  for (const [p, part] of parts.entries()) {
    if (part.includes(".")) {
      if (p !== parts.length - 1 || text.endsWith(":") || isIP(part) !== 4 || /(^|\.)0\d/.test(part))
        return undefined;
      const [a = 0, b = 0, c = 0, d = 0] = part.split(".").map(Number);
      values.push(a * 256 + b, c * 256 + d);
    } else {
      if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return undefined;
      values.push(Number.parseInt(part, 16));
    }
  }
  if (gap < 0 ? values.length !== 8 : values.length > 7) return undefined;
  const zeros = gap < 0 ? [] : new Array(8 - values.length).fill(0);
  const groups = [...values.slice(0, front.length), ...zeros, ...values.slice(front.length)];
  return [0, 1, 2, 3].map((w) => ((groups[2 * w] ?? 0) * 0x10000 + (groups[2 * w + 1] ?? 0)) >>> 0);
}

describe("parseAddress (IPv6)", () => {
  it("property: agrees with the split-based parser it replaced", () => {
    const noisy = fc
      .tuple(
        fc.ipV6(),
        fc.nat({ max: 45 }),
        fc.constantFrom("", ":", "::", ".", "0", "fffff", "%", "1.2.3.4"),
      )
      .map(([ip, at, insert]) => ip.slice(0, at) + insert + ip.slice(at));
    const chars = fc.string({ unit: fc.constantFrom(..."0123456789abcdefABCDEF:.%"), maxLength: 45 });
    fc.assert(
      fc.property(fc.oneof(fc.ipV6(), noisy, chars), (ip) => {
        if (!ip.includes(":")) return;
        const words = new Uint32Array(4);
        const parsed = parseAddress(ip, words) === 6 ? [...words] : undefined;
        expect(parsed).toEqual(splitIpv6(ip));
      }),
      { numRuns: 5000 },
    );
  });
});

describe("compileCidrs", () => {
  it.each([
    [["10.0.0.0/8"], "10.255.0.1", true],
    [["10.0.0.0/8"], "11.0.0.1", false],
    [["10.0.0.0/8"], "::ffff:10.1.2.3", true],
    [["10.0.0.0/8"], "::ffff:a01:203", true],
    [["10.0.0.0/8"], "::10.1.2.3", false],
    [["::ffff:0:0/96"], "192.0.2.1", true],
    [["::ffff:0:0/96"], "2001:db8::1", false],
    [["2001:db8::/32"], "2001:db8:ffff::1", true],
    [["2001:db8::/32"], "2001:db9::1", false],
    [["2001:db8::/32"], "10.0.0.1", false],
    [["::/0"], "10.0.0.1", true],
    [["0.0.0.0/0"], "2001:db8::1", false],
    [["0.0.0.0/0"], "::ffff:1.2.3.4", true],
    [["192.168.1.7"], "192.168.1.7", true],
    [["192.168.1.7"], "192.168.1.8", false],
    [["fe80::/10"], "fe80::1%eth0", false],
    [["10.0.0.0/8"], "10.0.0.1:443", false],
    [["10.0.0.0/8"], "not an address", false],
    [["::/0"], `${"0:".repeat(40)}1`, false],
    [[], "10.0.0.1", false],
    [["10.0.0.0/8", "2001:db8::/32"], "2001:db8::5", true],
  ])("%j matches %s: %s", (cidrs, ip, expected) => {
    expect(matcher(...cidrs)(ip)).toBe(expected);
  });

  const toBig = (ip: string) => ip.split(".").reduce((n, o) => (n << 8n) | BigInt(o), 0n);

  it("property: IPv4 prefix matching agrees with a BigInt reference, also through the mapped form", () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 0, max: 32 }), fc.ipV4(), (net, length, client) => {
        const maskBits = length === 0 ? 0n : ((1n << BigInt(length)) - 1n) << BigInt(32 - length);
        const network = toBig(net) & maskBits;
        const networkText = [24n, 16n, 8n, 0n].map((s) => (network >> s) & 255n).join(".");
        const expected = (toBig(client) & maskBits) === network;
        const match = matcher(`${networkText}/${length}`);
        expect(match(client)).toBe(expected);
        expect(match(`::ffff:${client}`)).toBe(expected);
        expect(matcher(`::ffff:${networkText}/${96 + length}`)(client)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });
});
