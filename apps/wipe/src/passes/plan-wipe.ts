/**
 * Pure planning: a method name or pattern spec becomes the list of passes to write, and a pattern
 * becomes bytes in a buffer at the right phase for any offset of the target.
 */
import { UserError } from '@toolbox/shared/cli';

export type PassSource = { kind: 'pattern'; bytes: Uint8Array } | { kind: 'random' };

export interface Pass {
  /** 1-based position in the plan. */
  index: number;
  source: PassSource;
  /** Read this pass back from the medium after writing it. */
  verify: boolean;
}

export type VerifyMode = 'last' | 'all' | 'none';

export interface MethodDef {
  name: string;
  description: string;
  passes: readonly PassSource[];
  /** The method's own verification rule, used unless --verify says otherwise. */
  verify: VerifyMode;
}

const p = (...bytes: number[]): PassSource => ({ kind: 'pattern', bytes: Uint8Array.from(bytes) });
const R: PassSource = { kind: 'random' };

const GUTMANN_FIXED: PassSource[] = [
  p(0x55),
  p(0xaa),
  p(0x92, 0x49, 0x24),
  p(0x49, 0x24, 0x92),
  p(0x24, 0x92, 0x49),
  ...Array.from({ length: 16 }, (_, i) => p(i * 0x11)),
  p(0x92, 0x49, 0x24),
  p(0x49, 0x24, 0x92),
  p(0x24, 0x92, 0x49),
  p(0x6d, 0xb6, 0xdb),
  p(0xb6, 0xdb, 0x6d),
  p(0xdb, 0x6d, 0xb6),
];

export const METHODS: readonly MethodDef[] = [
  { name: 'pattern', description: 'alternating bits, then their complement (the default)', passes: [p(0x55), p(0xaa)], verify: 'last' },
  { name: 'zero', description: 'one pass of zeros', passes: [p(0x00)], verify: 'last' },
  { name: 'one', description: 'one pass of ones', passes: [p(0xff)], verify: 'last' },
  { name: 'random', description: 'one pass of an AES-256-CTR keystream (regenerated to verify)', passes: [R], verify: 'last' },
  { name: 'dod-short', description: 'DoD 5220.22-M short form: zeros, ones, random', passes: [p(0x00), p(0xff), R], verify: 'last' },
  { name: 'dod', description: 'DoD 5220.22-M: zeros, ones, random, every pass verified', passes: [p(0x00), p(0xff), R], verify: 'all' },
  {
    name: 'gutmann',
    description: 'Gutmann 35 passes: 4 random, 27 fixed patterns, 4 random',
    passes: [R, R, R, R, ...GUTMANN_FIXED, R, R, R, R],
    verify: 'last',
  },
];

export function findMethod(name: string): MethodDef {
  const m = METHODS.find((x) => x.name === name);
  if (!m) {
    throw new UserError('E_USAGE', `unknown method '${name}' (one of: ${METHODS.map((x) => x.name).join(', ')}; see --list-methods)`);
  }
  return m;
}

/** "0x55" → [0x55]; "0x924924" → [0x92, 0x49, 0x24]; "aa" → [0xaa]. */
function parseHexToken(token: string): number[] {
  const hex = token.replace(/^0x/i, '');
  if (hex === '' || !/^[0-9a-f]+$/i.test(hex)) {
    throw new UserError('E_PATTERN', `pattern '${token}' is not hex (write bytes as 0x55, 0x924924 or "0x92 0x49 0x24")`);
  }
  if (hex.length % 2 !== 0) {
    if (hex.length === 1) return [parseInt(hex, 16)];
    throw new UserError('E_PATTERN', `pattern '${token}' has an odd number of hex digits`);
  }
  const out: number[] = [];
  for (let i = 0; i < hex.length; i += 2) out.push(parseInt(hex.slice(i, i + 2), 16));
  return out;
}

/**
 * The longest pattern of one pass. A pass is written in chunks that hold whole periods of it and are
 * block-aligned (lcm of its length and 4096): a long pattern of prime length would ask for gigabytes.
 */
export const MAX_PATTERN_BYTES = 512;

/**
 * Pattern spec → one byte sequence per pass. Commas separate passes; within a pass, bytes are
 * written as separate tokens ("0x92 0x49 0x24") or run together ("0x924924").
 */
export function parsePatternSpec(spec: string): Uint8Array[] {
  if (spec.trim() === '') throw new UserError('E_PATTERN', 'empty pattern (give at least one hex byte, e.g. --pattern 0x55)');
  return spec.split(',').map((part) => {
    const tokens = part
      .trim()
      .split(/\s+/)
      .filter((t) => t !== '');
    if (tokens.length === 0) throw new UserError('E_PATTERN', `empty pass in pattern '${spec}'`);
    const bytes = Uint8Array.from(tokens.flatMap(parseHexToken));
    if (bytes.length > MAX_PATTERN_BYTES) {
      throw new UserError(
        'E_PATTERN',
        `a pass of ${bytes.length} pattern bytes is over the limit of ${MAX_PATTERN_BYTES} (a pattern repeats: give one period of it)`,
      );
    }
    return bytes;
  });
}

export interface PlanOptions {
  method?: string;
  /** Already-parsed --pattern passes (overrides the method). */
  patterns?: Uint8Array[];
  /** Repeat the method's sequence this many times. */
  passes?: number;
  zeroLast?: boolean;
  verify?: VerifyMode;
}

export interface WipePlan {
  method: string;
  passes: Pass[];
  verify: VerifyMode;
}

export function planWipe(opts: PlanOptions): WipePlan {
  if (opts.patterns && opts.method) throw new UserError('E_USAGE', 'give either --method or --pattern, not both');
  const def: MethodDef = opts.patterns
    ? { name: 'custom', description: 'custom pattern', passes: opts.patterns.map((b) => ({ kind: 'pattern', bytes: b })), verify: 'last' }
    : findMethod(opts.method ?? 'pattern');
  const repeat = opts.passes ?? 1;
  if (!Number.isInteger(repeat) || repeat < 1) throw new UserError('E_USAGE', `--passes must be a positive integer, got ${repeat}`);
  const sources: PassSource[] = [];
  for (let i = 0; i < repeat; i++) sources.push(...def.passes);
  if (opts.zeroLast) sources.push(p(0x00));
  const verify = opts.verify ?? def.verify;
  const passes = sources.map((source, i) => ({
    index: i + 1,
    source,
    verify: verify === 'all' || (verify === 'last' && i === sources.length - 1),
  }));
  return { method: def.name + (opts.zeroLast ? '+zero-last' : ''), passes, verify };
}

export function describeSource(s: PassSource): string {
  return s.kind === 'random' ? 'random (AES-256-CTR)' : hexBytes(s.bytes);
}

export function hexBytes(b: Uint8Array): string {
  return Array.from(b, (x) => `0x${x.toString(16).padStart(2, '0').toUpperCase()}`).join(' ');
}

/**
 * Fills `buf` with `pattern` as it lies at target offset `offset`: byte i of buf gets
 * pattern[(offset + i) mod length], so a multi-byte pattern stays in phase across buffers.
 */
export function fillPattern(buf: Uint8Array, pattern: Uint8Array, offset: number): void {
  const len = pattern.length;
  if (len === 0) throw new Error('empty pattern');
  const phase = offset % len;
  const rotated = new Uint8Array(len);
  for (let i = 0; i < len; i++) rotated[i] = pattern[(phase + i) % len] ?? 0;
  Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).fill(rotated);
}

/** A chunk size near `target` that is a multiple of both `align` and the pattern length. */
export function chunkSizeFor(patternLength: number, target: number, align = 4096): number {
  const unit = lcm(patternLength, align);
  return Math.max(unit, Math.floor(target / unit) * unit);
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}

/** Bytes of a plan over a target, for --dry-run and estimates. */
export function planBytes(plan: WipePlan, size: number): { write: number; verify: number } {
  return {
    write: plan.passes.length * size,
    verify: plan.passes.filter((x) => x.verify).length * size,
  };
}
