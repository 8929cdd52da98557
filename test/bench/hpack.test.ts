import { describe, expect, it } from "vitest";
import { encodeHeaderBlock, HpackDecoder } from "../../bench/hpack.js";

// bench/hpack.ts against the examples of RFC 7541 Appendix C: the decoder reads what a server
// may send (indexed fields, literals with and without indexing, Huffman strings, a dynamic table
// with eviction); the encoder writes literals without indexing and without Huffman (C.2.2's
// representation, with a literal name).

const bytes = (hex: string) => Buffer.from(hex.replace(/\s+/g, ""), "hex");

const REQUEST_1 = [
  [":method", "GET"],
  [":scheme", "http"],
  [":path", "/"],
  [":authority", "www.example.com"],
];
const REQUEST_2 = [...REQUEST_1, ["cache-control", "no-cache"]];
const REQUEST_3 = [
  [":method", "GET"],
  [":scheme", "https"],
  [":path", "/index.html"],
  [":authority", "www.example.com"],
  ["custom-key", "custom-value"],
];
const DATE_1 = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE_2 = "Mon, 21 Oct 2013 20:13:22 GMT";
const RESPONSE_1 = [
  [":status", "302"],
  ["cache-control", "private"],
  ["date", DATE_1],
  ["location", "https://www.example.com"],
];
const RESPONSE_2 = [[":status", "307"], ...RESPONSE_1.slice(1)];
const RESPONSE_3 = [
  [":status", "200"],
  ["cache-control", "private"],
  ["date", DATE_2],
  ["location", "https://www.example.com"],
  ["content-encoding", "gzip"],
  ["set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"],
];

describe("HpackDecoder: RFC 7541 C.2, header field representations", () => {
  it("C.2.1: a literal with indexing enters the dynamic table", () => {
    const decoder = new HpackDecoder();
    const block = bytes("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
    expect(decoder.decode(block)).toEqual([["custom-key", "custom-header"]]);
    expect(decoder.tableSize).toBe(55);
    expect(decoder.decode(bytes("be"))).toEqual([["custom-key", "custom-header"]]); // index 62
  });

  it("C.2.2: a literal without indexing, indexed name", () => {
    const decoder = new HpackDecoder();
    expect(decoder.decode(bytes("040c 2f73 616d 706c 652f 7061 7468"))).toEqual([[":path", "/sample/path"]]);
    expect(decoder.tableSize).toBe(0);
  });

  it("C.2.3: a literal never indexed", () => {
    const decoder = new HpackDecoder();
    expect(decoder.decode(bytes("1008 7061 7373 776f 7264 0673 6563 7265 74"))).toEqual([
      ["password", "secret"],
    ]);
    expect(decoder.tableSize).toBe(0);
  });

  it("C.2.4: an indexed field from the static table", () => {
    const decoder = new HpackDecoder();
    expect(decoder.decode(bytes("82"))).toEqual([[":method", "GET"]]);
    expect(decoder.tableSize).toBe(0);
  });

  it("refuses an index beyond both tables, and truncated input", () => {
    expect(() => new HpackDecoder().decode(bytes("be"))).toThrow(/no table entry 62/);
    expect(() => new HpackDecoder().decode(bytes("80"))).toThrow(/no table entry 0/);
    expect(() => new HpackDecoder().decode(bytes("ff"))).toThrow(/truncated integer/);
    expect(() => new HpackDecoder().decode(bytes("400a 6375"))).toThrow(/truncated string/);
  });
});

describe("HpackDecoder: RFC 7541 C.3–C.6, blocks sharing one dynamic table", () => {
  const series = [
    {
      name: "C.3: requests without Huffman",
      maxSize: 4096,
      blocks: [
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "8286 84be 5808 6e6f 2d63 6163 6865",
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
      ],
      fields: [REQUEST_1, REQUEST_2, REQUEST_3],
      tableSizes: [57, 110, 164],
    },
    {
      name: "C.4: requests with Huffman",
      maxSize: 4096,
      blocks: [
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        "8286 84be 5886 a8eb 1064 9cbf",
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
      ],
      fields: [REQUEST_1, REQUEST_2, REQUEST_3],
      tableSizes: [57, 110, 164],
    },
    {
      name: "C.5: responses without Huffman, a 256-octet table (evictions)",
      maxSize: 256,
      blocks: [
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32" +
          "3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "4803 3330 37c1 c0bf",
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970" +
          "7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61" +
          "6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
      ],
      fields: [RESPONSE_1, RESPONSE_2, RESPONSE_3],
      tableSizes: [222, 222, 215],
    },
    {
      name: "C.6: responses with Huffman, a 256-octet table (evictions)",
      maxSize: 256,
      blocks: [
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad" +
          "1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        "4883 640e ffc1 c0bf",
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2" +
          "e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
      ],
      fields: [RESPONSE_1, RESPONSE_2, RESPONSE_3],
      tableSizes: [222, 222, 215],
    },
  ];

  for (const { name, maxSize, blocks, fields, tableSizes } of series) {
    it(name, () => {
      const decoder = new HpackDecoder(maxSize);
      blocks.forEach((block, i) => {
        expect(decoder.decode(bytes(block)), `block ${i + 1}`).toEqual(fields[i]);
        expect(decoder.tableSize, `table after block ${i + 1}`).toBe(tableSizes[i]);
      });
    });
  }

  it("a dynamic table size update evicts down to the new size", () => {
    const decoder = new HpackDecoder();
    decoder.decode(bytes("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
    expect(decoder.decode(bytes("20"))).toEqual([]); // size 0: the entry is evicted
    expect(decoder.tableSize).toBe(0);
    expect(() => decoder.decode(bytes("be"))).toThrow(/no table entry 62/);
  });

  it("refuses Huffman padding that is not the start of EOS", () => {
    // "www.example.com" (C.4.1) with its 7 padding bits cleared.
    expect(() => new HpackDecoder().decode(bytes("418c f1e3 c2e5 f23a 6ba0 ab90 f480"))).toThrow(
      /Huffman padding/,
    );
  });
});

describe("encodeHeaderBlock", () => {
  it("writes each field as a literal without indexing with a literal name, no Huffman (RFC 7541 §6.2.2)", () => {
    expect(encodeHeaderBlock({ ":path": "/sample/path" })).toEqual(
      bytes("00 05 3a70 6174 68 0c 2f73 616d 706c 652f 7061 7468"),
    );
  });

  it("lower-cases names and encodes lengths past the 7-bit prefix as RFC 7541 §5.1 integers", () => {
    const value = "x".repeat(1337);
    // 1337 = 127 + 1210, and 1210 = 58 + 9 × 128: 0x7f, then 0x80 | 58, then 9.
    expect(encodeHeaderBlock({ "X-Long": value })).toEqual(
      Buffer.concat([bytes("00 06"), Buffer.from("x-long"), bytes("7f ba 09"), Buffer.from(value)]),
    );
  });

  it("round-trips through the decoder and leaves its dynamic table empty", () => {
    const headers = {
      ":method": "POST",
      ":scheme": "http",
      ":path": "/keyward.v1.AuthorizeService/Authorize",
      ":authority": "127.0.0.1:50051",
      "content-type": "application/grpc",
      te: "trailers",
    };
    const decoder = new HpackDecoder();
    expect(decoder.decode(encodeHeaderBlock(headers))).toEqual(Object.entries(headers));
    expect(decoder.tableSize).toBe(0);
  });
});
