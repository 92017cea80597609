/**
 * Whether a UDP datagram is the answer to the question we asked, and nothing else: from the exact
 * address and port asked, with the query's ID, decodable in full, a response, and with our question
 * echoed (name case-insensitively, or exactly with 0x20 case randomisation; type and class). Pure:
 * the resolver does the IO and the counting.
 */
import dnsPacket from 'dns-packet';
import type { DecodedPacket, RecordType } from 'dns-packet';

export interface ExpectedAnswer {
  /** The server asked, as an address literal in canonical form (see canonicalHost) and its port. */
  host: string;
  port: number;
  id: number;
  /** The name exactly as it was sent (with its random case under 0x20). */
  name: string;
  type: RecordType;
  /** 0x20: the question's name must come back byte for byte, case included. */
  isCaseExact: boolean;
}

export type AnswerCheck =
  | { kind: 'ok'; packet: DecodedPacket }
  /** Shorter than a DNS header, or did not decode in full (truncated, garbage). */
  | { kind: 'garbage' }
  | { kind: 'wrong-id' }
  /** From another address or port than the one asked: forged, or a confused server. */
  | { kind: 'wrong-source' }
  /** Not a response, or a question that is not ours; `isCaseOnly`: the name differs in case only (0x20). */
  | { kind: 'wrong-question'; isCaseOnly: boolean };

const HEADER_BYTES = 12;
/** The root name (one byte), type and class. */
const MIN_QUESTION_BYTES = 5;
/** The root name, type, class, TTL and RDLENGTH. */
const MIN_RECORD_BYTES = 11;

/** Drops one final dot, as dns-packet does when it encodes a name. */
function bareName(name: string): string {
  return name.length > 1 && name.endsWith('.') ? name.slice(0, -1) : name;
}

export function checkAnswer(msg: Buffer, from: { address: string; port: number }, want: ExpectedAnswer): AnswerCheck {
  if (msg.length < 2) return { kind: 'garbage' };
  if (msg.readUInt16BE(0) !== want.id) return { kind: 'wrong-id' };
  // before decoding anything: a flood from elsewhere costs a comparison, not a parse
  if (from.port !== want.port || from.address !== want.host) return { kind: 'wrong-source' };
  if (msg.length < HEADER_BYTES) return { kind: 'garbage' };
  // the counts first: a datagram that claims more than it can hold costs no decoding
  if (msg.readUInt16BE(4) !== 1) return { kind: 'wrong-question', isCaseOnly: false };
  const records = msg.readUInt16BE(6) + msg.readUInt16BE(8) + msg.readUInt16BE(10);
  if (HEADER_BYTES + MIN_QUESTION_BYTES + records * MIN_RECORD_BYTES > msg.length) return { kind: 'garbage' };
  let packet: DecodedPacket;
  try {
    packet = dnsPacket.decode(msg);
  } catch {
    return { kind: 'garbage' };
  }
  // a decoder that read past the end has made up what it did not find
  if (typeof dnsPacket.decode.bytes === 'number' && dnsPacket.decode.bytes > msg.length) return { kind: 'garbage' };
  const questions = packet.questions ?? [];
  const q = questions[0];
  // QR set and opcode QUERY (0), read from the header itself
  const isResponse = ((msg[2] ?? 0) & 0x80) !== 0 && ((msg[2] ?? 0) & 0x78) === 0;
  if (!isResponse || questions.length !== 1 || !q) {
    return { kind: 'wrong-question', isCaseOnly: false };
  }
  const wanted = bareName(want.name);
  const got = bareName(q.name);
  const isSameName = want.isCaseExact ? got === wanted : got.toLowerCase() === wanted.toLowerCase();
  if (!isSameName || q.type !== want.type || (q.class ?? 'IN') !== 'IN') {
    return {
      kind: 'wrong-question',
      isCaseOnly: q.type === want.type && (q.class ?? 'IN') === 'IN' && got.toLowerCase() === wanted.toLowerCase(),
    };
  }
  return { kind: 'ok', packet };
}

/**
 * DNS 0x20 (draft-vixie-dnsext-dns0x20): each ASCII letter of the name in upper or lower case, one
 * random bit per letter from `bits` (which needs at least one bit per character of the name).
 */
export function randomCase(name: string, bits: Uint8Array): string {
  let out = '';
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const isLetter = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    const isUpper = (((bits[i >> 3] ?? 0) >> (i & 7)) & 1) === 1;
    out += isLetter ? String.fromCharCode(isUpper ? c & ~0x20 : c | 0x20) : name[i];
  }
  return out;
}
