import { randomBytes } from 'node:crypto';
import dnsPacket from 'dns-packet';
import type { Packet } from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { checkAnswer, randomCase, type ExpectedAnswer } from './answer-check.js';

const want: ExpectedAnswer = { host: '192.0.2.53', port: 53, id: 0x1234, name: 'Mx.ExAmple.TEST', type: 'MX', isCaseExact: false };
const server = { address: '192.0.2.53', port: 53 };

function answer(over: Partial<Packet> = {}): Buffer {
  return dnsPacket.encode({
    type: 'response',
    id: 0x1234,
    flags: dnsPacket.AUTHORITATIVE_ANSWER,
    questions: [{ name: 'Mx.ExAmple.TEST', type: 'MX', class: 'IN' }],
    answers: [{ type: 'MX', name: 'mx.example.test', ttl: 60, data: { preference: 10, exchange: 'mail.example.test' } }],
    ...over,
  });
}

describe('checkAnswer', () => {
  it('takes the answer from the address and port asked, with the ID and the question', () => {
    const got = checkAnswer(answer(), server, want);
    expect(got.kind).toBe('ok');
    expect(got.kind === 'ok' && got.packet.answers?.[0]).toMatchObject({ type: 'MX', data: { exchange: 'mail.example.test' } });
  });

  it('rejects another source address, and another source port, even with the right ID and question', () => {
    expect(checkAnswer(answer(), { address: '192.0.2.54', port: 53 }, want)).toEqual({ kind: 'wrong-source' });
    expect(checkAnswer(answer(), { address: '192.0.2.53', port: 5353 }, want)).toEqual({ kind: 'wrong-source' });
    expect(checkAnswer(answer(), { address: '::ffff:192.0.2.53', port: 53 }, want)).toEqual({ kind: 'wrong-source' });
  });

  it('rejects another ID', () => {
    expect(checkAnswer(answer({ id: 0x1235 }), server, want)).toEqual({ kind: 'wrong-id' });
  });

  it('rejects another name, type or class, a query, no question or two questions', () => {
    const other = (q: Packet['questions']) => checkAnswer(answer({ questions: q }), server, want);
    expect(other([{ name: 'mx.example.tesT.evil', type: 'MX', class: 'IN' }])).toEqual({ kind: 'wrong-question', isCaseOnly: false });
    expect(other([{ name: 'Mx.ExAmple.TEST', type: 'A', class: 'IN' }])).toEqual({ kind: 'wrong-question', isCaseOnly: false });
    expect(other([{ name: 'Mx.ExAmple.TEST', type: 'MX', class: 'CH' }])).toEqual({ kind: 'wrong-question', isCaseOnly: false });
    expect(other([])).toEqual({ kind: 'wrong-question', isCaseOnly: false });
    expect(
      other([
        { name: 'Mx.ExAmple.TEST', type: 'MX', class: 'IN' },
        { name: 'evil.test', type: 'MX', class: 'IN' },
      ]),
    ).toEqual({ kind: 'wrong-question', isCaseOnly: false });
    expect(checkAnswer(answer({ type: 'query', flags: 0 }), server, want)).toEqual({ kind: 'wrong-question', isCaseOnly: false });
  });

  it('compares the name case-insensitively, and with 0x20 exactly', () => {
    const lower = answer({ questions: [{ name: 'mx.example.test', type: 'MX', class: 'IN' }] });
    expect(checkAnswer(lower, server, want).kind).toBe('ok');
    expect(checkAnswer(lower, server, { ...want, isCaseExact: true })).toEqual({ kind: 'wrong-question', isCaseOnly: true });
    expect(checkAnswer(answer(), server, { ...want, isCaseExact: true }).kind).toBe('ok');
    // the final dot is no part of the comparison
    expect(checkAnswer(answer(), server, { ...want, name: 'Mx.ExAmple.TEST.', isCaseExact: true }).kind).toBe('ok');
  });

  it('a truncated answer, cut at any length, is garbage, never an answer and never a throw', () => {
    const full = answer();
    const kinds = new Set<string>();
    for (let n = 0; n < full.length; n++) kinds.add(checkAnswer(full.subarray(0, n), server, want).kind);
    expect([...kinds].sort()).toEqual(['garbage']);
  });

  it('random bytes behind the right ID are never taken for an answer', () => {
    const kinds = new Set<string>();
    const header = Buffer.from([0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
    for (let i = 0; i < 2000; i++)
      kinds.add(checkAnswer(Buffer.concat([Buffer.from([0x12, 0x34]), randomBytes(i % 80)]), server, want).kind);
    // past the counts: a plausible header, then random question and record bytes for the decoder
    for (let i = 0; i < 2000; i++) kinds.add(checkAnswer(Buffer.concat([header, randomBytes(16 + (i % 80))]), server, want).kind);
    expect([...kinds].filter((k) => k !== 'garbage' && k !== 'wrong-question')).toEqual([]);
  });
});

describe('randomCase (0x20)', () => {
  it('flips only ASCII letters, one bit per character', () => {
    expect(randomCase('ab-1.c_d.test', new Uint8Array([0xff, 0xff]))).toBe('AB-1.C_D.TEST');
    expect(randomCase('AB-1.C_D.TEST', new Uint8Array([0, 0]))).toBe('ab-1.c_d.test');
    expect(randomCase('abcd', new Uint8Array([0b0101]))).toBe('AbCd');
  });

  it('random bits give different spellings of the same name', () => {
    const name = 'mail.example.test';
    const spellings = new Set(Array.from({ length: 50 }, () => randomCase(name, randomBytes(3))));
    expect(spellings.size).toBeGreaterThan(40);
    for (const s of spellings) expect(s.toLowerCase()).toBe(name);
  });
});
