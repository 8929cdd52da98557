import { describe, expect, it } from "vitest";
import { clientAddress } from "../../src/domain/client-address.js";

describe("clientAddress", () => {
  it("is the connection's source when no proxy is trusted, whatever x-forwarded-for claims", () => {
    expect(clientAddress("203.0.113.7", "10.0.0.1", 0)).toBe("203.0.113.7");
    expect(clientAddress(" 2001:db8::1 ", undefined, 0)).toBe("2001:db8::1");
    expect(clientAddress(undefined, "10.0.0.1", 0)).toBeUndefined();
    expect(clientAddress("", "10.0.0.1", 0)).toBeUndefined();
  });

  it("is the Nth entry from the right of x-forwarded-for with N trusted proxies", () => {
    const xff = "198.51.100.9, 203.0.113.7, 10.0.0.2";
    expect(clientAddress("10.0.0.3", xff, 1)).toBe("10.0.0.2");
    expect(clientAddress("10.0.0.3", xff, 2)).toBe("203.0.113.7");
    expect(clientAddress("10.0.0.3", xff, 3)).toBe("198.51.100.9");
    expect(clientAddress("10.0.0.3", "203.0.113.7", 1)).toBe("203.0.113.7");
  });

  it("is unknown when the request did not pass through every trusted proxy", () => {
    expect(clientAddress("10.0.0.3", "203.0.113.7", 2)).toBeUndefined();
    expect(clientAddress("10.0.0.3", undefined, 1)).toBeUndefined();
    expect(clientAddress("10.0.0.3", "203.0.113.7, ", 1)).toBeUndefined();
  });

  it("is unknown for text too long to be an address", () => {
    expect(clientAddress("1".repeat(65), undefined, 0)).toBeUndefined();
    expect(clientAddress("10.0.0.3", `${"1".repeat(65)}`, 1)).toBeUndefined();
  });

  it("reads only the last entries of a long header", () => {
    const xff = `${"198.51.100.9, ".repeat(10_000)}203.0.113.7`;
    expect(clientAddress("10.0.0.3", xff, 1)).toBe("203.0.113.7");
    expect(clientAddress("10.0.0.3", xff, 2)).toBe("198.51.100.9");
  });
});
