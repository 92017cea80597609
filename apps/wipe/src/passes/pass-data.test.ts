import { describe, expect, it } from 'vitest';
import { newStreamKey } from './keystream.js';
import { PassData } from './pass-data.js';

describe("one source of a pass's bytes", () => {
  it('what the writer writes is what the verifier expects, at every phase of a 3-byte pattern', () => {
    const source = { kind: 'pattern' as const, bytes: Uint8Array.from([0x92, 0x49, 0x24]) };
    const start = 7;
    const writer = new PassData(source, null, start, 96, (n) => Buffer.alloc(n));
    const reader = new PassData(source, null, 0, 96, (n) => Buffer.alloc(n));
    // the writer's chunks from `start`, laid end to end
    const written = Buffer.concat([0, 1, 2, 3].map((i) => writer.at(start + i * writer.chunk, writer.chunk)));
    for (let off = 0; off + 50 <= written.length; off += 5) {
      const want = written.subarray(off, off + 50);
      expect({ off, same: reader.expectedAt(start + off, 50).equals(want) }).toEqual({ off, same: true });
    }
    expect(written[0]).toBe(0x49); // offset 7 is phase 1
  });

  it('the same for a random pass: one keystream for both', () => {
    const key = newStreamKey();
    const writer = new PassData({ kind: 'random' }, key, 0, 4096);
    const reader = new PassData({ kind: 'random' }, key, 0);
    expect(reader.expectedAt(1000, 3000).equals(writer.at(0, 4096).subarray(1000, 4000))).toBe(true);
  });

  it('refuses a compare window longer than it serves', () => {
    const d = new PassData({ kind: 'pattern', bytes: Uint8Array.from([1]) }, null, 0);
    expect(() => d.expectedAt(0, d.window + 1)).toThrow(/more than the window/);
  });
});
