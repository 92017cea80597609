/**
 * A small, strict layer over ssh2: mandatory host key verification, one quoting helper for every
 * remote command, a timeout on every network operation, and failures turned into UserErrors that
 * say which host, what went wrong and how to fix it.
 *
 * The pure parts (URL, known_hosts, fingerprints, globs) come first; the IO after them.
 */
import { createHash, createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import type { Duplex, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type Ssh2Module from 'ssh2';
import type { Client as Ssh2Client, ClientChannel, ConnectConfig } from 'ssh2';
import { UserError, errorMessage } from './errors.js';
import { shellCommand, shellQuote } from './shell-quote.js';

/**
 * ssh2 is loaded on first use: importing it costs about 0.2 s, which every start of every tool
 * would pay, SSH or not.
 */
let ssh2Module: Promise<typeof Ssh2Module> | null = null;
function loadSsh2(): Promise<typeof Ssh2Module> {
  return (ssh2Module ??= import('ssh2').then((m) => m.default));
}

export interface SshOptions {
  host: string;
  /** Default 22. */
  port?: number;
  username: string;
  /** Private key file; without it the agent is used. Passphrase-protected keys belong in the agent. */
  privateKeyPath?: string;
  /** ssh-agent socket path (callers pass process.env.SSH_AUTH_SOCK); this module never reads env. */
  agent?: string;
  /** Verify the host key against this known_hosts file. */
  knownHostsPath?: string;
  /** Or a pinned `SHA256:<base64 without padding>` fingerprint, as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint?: string;
  /** Connect + handshake + authentication, default 10000. */
  readyTimeoutMs?: number;
  /** SSH transport compression (zlib@openssh.com/zlib), default false. */
  compress?: boolean;
}

export interface ExecResult {
  stdout: Buffer;
  stderr: Buffer;
  /** Exit status, or null when the command was killed by a signal. */
  code: number | null;
  /** The killing signal as Node names it (`SIGTERM`), or null. */
  signal: string | null;
}

export interface ParsedSshUrl {
  username?: string;
  host: string;
  port?: number;
  path?: string;
}

export type KnownHostMarker = 'revoked' | 'cert-authority';

export type KnownHostNames = { kind: 'patterns'; patterns: string[] } | { kind: 'hashed'; salt: Buffer; hash: Buffer };

export interface KnownHostEntry {
  /** 1-based line number in the file, for messages. */
  line: number;
  marker: KnownHostMarker | null;
  hosts: KnownHostNames;
  keyType: string;
  /** The raw public key blob (the base64 field, decoded). */
  key: Buffer;
}

export type KnownHostStatus = 'match' | 'mismatch' | 'revoked' | 'unknown';

const DEFAULT_PORT = 22;
const DEFAULT_READY_TIMEOUT_MS = 10_000;
const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
const DEFAULT_FORWARD_TIMEOUT_MS = 10_000;
/** Keepalives notice a dead peer during long streams, where no per-call timeout can. */
const KEEPALIVE_INTERVAL_MS = 15_000;
const KEEPALIVE_COUNT_MAX = 3;
/** Remote stderr quoted in an error message is cut here, so the message stays one readable line. */
const MAX_STDERR_IN_MESSAGE = 300;

// ---------------------------------------------------------------------------------------------
// ssh:// URLs

const URL_SHAPE = 'expected ssh://[user@]host[:port][/path]';
const HOST_NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*)$/;
const IPV6 = /^[0-9A-Fa-f:.]+$/;

function urlError(url: string, reason: string): UserError {
  return new UserError('E_SSH_URL', `invalid ssh URL ${JSON.stringify(url)}: ${reason}; ${URL_SHAPE}`);
}

function decodeUrlPart(url: string, part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw urlError(url, `bad percent-encoding in the ${what}`);
  }
}

function parsePort(url: string, text: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65_535)) throw urlError(url, `port ${JSON.stringify(text)} is not a number from 1 to 65535`);
  return port;
}

function splitHostPort(url: string, hostPort: string): { host: string; portText?: string } {
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    const host = hostPort.slice(1, close);
    const rest = hostPort.slice(close + 1);
    if (close < 0 || !IPV6.test(host) || !host.includes(':')) throw urlError(url, 'bad IPv6 address in brackets');
    if (rest !== '' && !rest.startsWith(':')) throw urlError(url, `unexpected ${JSON.stringify(rest)} after the address`);
    return rest === '' ? { host } : { host, portText: rest.slice(1) };
  }
  const parts = hostPort.split(':');
  if (parts.length > 2) throw urlError(url, 'an IPv6 address must be written in brackets, like [::1]');
  const host = parts[0] ?? '';
  if (host === '') throw urlError(url, 'the host is missing');
  if (!HOST_NAME.test(host)) throw urlError(url, `${JSON.stringify(host)} is not a host name or IPv4 address`);
  return parts[1] === undefined ? { host } : { host, portText: parts[1] };
}

function parseUserInfo(url: string, userInfo: string): string {
  if (userInfo === '') throw urlError(url, 'the user name before @ is empty');
  if (userInfo.includes(':')) throw urlError(url, 'passwords in URLs are not supported; use a key or ssh-agent');
  if (userInfo.includes(';')) throw urlError(url, 'connection parameters (;name=value) are not supported');
  return decodeUrlPart(url, userInfo, 'user name');
}

/** Parses `ssh://[user@]host[:port][/path]`; user and path are percent-decoded, path keeps its leading `/`. */
export function parseSshUrl(url: string): ParsedSshUrl {
  if (url.slice(0, 6).toLowerCase() !== 'ssh://') throw urlError(url, 'it does not start with ssh://');
  if (/[\s\p{Cc}]/u.test(url)) throw urlError(url, 'it contains spaces or control characters (percent-encode them)');
  if (/[?#]/.test(url)) throw urlError(url, 'queries and fragments are not supported (percent-encode ? as %3F and # as %23)');
  const rest = url.slice(6);
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const at = authority.lastIndexOf('@');
  const { host, portText } = splitHostPort(url, authority.slice(at + 1));
  const result: ParsedSshUrl = { host };
  if (at >= 0) result.username = parseUserInfo(url, authority.slice(0, at));
  if (portText !== undefined) result.port = parsePort(url, portText);
  if (slash >= 0) result.path = decodeUrlPart(url, rest.slice(slash), 'path');
  return result;
}

// ---------------------------------------------------------------------------------------------
// Host keys: fingerprints and known_hosts

/** `SHA256:` + unpadded base64 of the SHA-256 of the raw key blob, exactly as `ssh-keygen -lf` prints it. */
export function hostKeyFingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named inside a public key blob (its first SSH string), or null if malformed. */
function blobKeyType(blob: Buffer): string | null {
  if (blob.length < 4) return null;
  const length = blob.readUInt32BE(0);
  if (length === 0 || 4 + length > blob.length) return null;
  return blob.toString('latin1', 4, 4 + length);
}

/** How known_hosts names a host: bare on port 22, `[host]:port` otherwise (lower case, as OpenSSH writes it). */
function knownHostsName(host: string, port: number): string {
  const lower = host.toLowerCase();
  return port === DEFAULT_PORT ? lower : `[${lower}]:${port}`;
}

function parseHostNames(field: string): KnownHostNames | null {
  if (field.startsWith('|')) {
    const [, magic, salt, hash, extra] = field.split('|');
    if (magic !== '1' || salt === undefined || hash === undefined || extra !== undefined) return null;
    const saltBytes = Buffer.from(salt, 'base64');
    const hashBytes = Buffer.from(hash, 'base64');
    if (saltBytes.length !== 20 || hashBytes.length !== 20) return null;
    return { kind: 'hashed', salt: saltBytes, hash: hashBytes };
  }
  const patterns = field
    .toLowerCase()
    .split(',')
    .filter((p) => p !== '');
  return patterns.length === 0 ? null : { kind: 'patterns', patterns };
}

function parseKnownHostsLine(text: string, line: number): KnownHostEntry | null {
  const fields = text.trim().split(/\s+/);
  let marker: KnownHostMarker | null = null;
  if (fields[0]?.startsWith('@')) {
    const word = fields.shift();
    if (word !== '@revoked' && word !== '@cert-authority') return null;
    marker = word === '@revoked' ? 'revoked' : 'cert-authority';
  }
  const [hostField, keyType, keyBase64] = fields;
  if (hostField === undefined || keyType === undefined || keyBase64 === undefined) return null;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(keyBase64)) return null;
  const key = Buffer.from(keyBase64, 'base64');
  const hosts = parseHostNames(hostField);
  // A blob whose embedded type disagrees with the type field is corrupt; OpenSSH skips it too.
  if (hosts === null || blobKeyType(key) !== keyType) return null;
  return { line, marker, hosts, keyType, key };
}

/**
 * Parses an OpenSSH known_hosts file. Malformed lines are skipped (as OpenSSH does): an entry
 * that cannot be read can only make a host "unknown", which is refused anyway.
 */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const entry = parseKnownHostsLine(trimmed, index + 1);
    if (entry !== null) entries.push(entry);
  });
  return entries;
}

/** known_hosts host patterns know only `*` and `?`. */
function wildcardMatch(pattern: string, name: string): boolean {
  const source = [...pattern].map((c) => (c === '*' ? '[^]*' : c === '?' ? '[^]' : literal(c))).join('');
  return new RegExp(`^${source}$`, 'u').test(name);
}

function namesMatch(hosts: KnownHostNames, name: string): boolean {
  if (hosts.kind === 'hashed') {
    return createHmac('sha1', hosts.salt).update(name).digest().equals(hosts.hash);
  }
  // One matching negated pattern (`!host`) excludes the line whatever else matches.
  let isMatch = false;
  for (const pattern of hosts.patterns) {
    if (pattern.startsWith('!')) {
      if (wildcardMatch(pattern.slice(1), name)) return false;
    } else if (wildcardMatch(pattern, name)) {
      isMatch = true;
    }
  }
  return isMatch;
}

/** Plain (unmarked) entries that name this host on this port. */
function entriesForHost(entries: readonly KnownHostEntry[], host: string, port: number): KnownHostEntry[] {
  const name = knownHostsName(host, port);
  return entries.filter((e) => e.marker === null && namesMatch(e.hosts, name));
}

/**
 * The verdict on a presented host key. A key listed as `@revoked` is refused for every host
 * ("must not ever be accepted", sshd(8)). A host that is known with other keys only — of any
 * type — is a mismatch, not unknown: an attacker could otherwise present a fresh key type.
 * `@cert-authority` lines are ignored (ssh2 does not do host certificates).
 */
export function checkKnownHost(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
  keyType: string,
  key: Buffer,
): KnownHostStatus {
  if (entries.some((e) => e.marker === 'revoked' && e.key.equals(key))) return 'revoked';
  const known = entriesForHost(entries, host, port);
  if (known.some((e) => e.keyType === keyType && e.key.equals(key))) return 'match';
  return known.length > 0 ? 'mismatch' : 'unknown';
}

/** ssh2's host key algorithms (its defaults, in its order), by the key type they verify. */
const HOST_KEY_ALGORITHMS: ReadonlyArray<readonly [string, string]> = [
  ['ssh-ed25519', 'ssh-ed25519'],
  ['ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp256'],
  ['ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp384'],
  ['ecdsa-sha2-nistp521', 'ecdsa-sha2-nistp521'],
  ['rsa-sha2-512', 'ssh-rsa'],
  ['rsa-sha2-256', 'ssh-rsa'],
  ['ssh-rsa', 'ssh-rsa'],
];

/**
 * Like OpenSSH, ask first for the key types known_hosts already holds for this host, so that a
 * server with several host keys presents one we can check instead of a "mismatching" other type.
 */
function preferredHostKeyAlgorithms(known: readonly KnownHostEntry[]): string[] | undefined {
  const types = new Set(known.map((e) => e.keyType));
  const first = HOST_KEY_ALGORITHMS.filter(([, type]) => types.has(type)).map(([algo]) => algo);
  if (first.length === 0) return undefined;
  return [...first, ...HOST_KEY_ALGORITHMS.map(([algo]) => algo).filter((algo) => !first.includes(algo))];
}

// ---------------------------------------------------------------------------------------------
// Globs, matched locally so that remote names never meet a remote shell's globbing

function literal(c: string): string {
  return `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`;
}

/** Parses a bracket expression starting at `chars[start] === '['`; null if it never closes. */
function bracketExpression(chars: readonly string[], start: number): { source: string; end: number } | null {
  let i = start + 1;
  const isNegated = chars[i] === '!' || chars[i] === '^';
  if (isNegated) i++;
  const items: string[] = [];
  for (let isFirst = true; i < chars.length; i++, isFirst = false) {
    let c = chars[i] ?? '';
    if (c === ']' && !isFirst) {
      return { source: `[${isNegated ? '^' : ''}${items.join('')}]`, end: i };
    }
    if (c === '\\' && i + 1 < chars.length) c = chars[++i] ?? '';
    const rangeEnd = chars[i + 2];
    if (chars[i + 1] === '-' && rangeEnd !== undefined && rangeEnd !== ']') {
      // A reversed range (z-a) matches nothing, as in the shell, rather than failing.
      if ((c.codePointAt(0) ?? 0) <= (rangeEnd.codePointAt(0) ?? 0)) items.push(`${literal(c)}-${literal(rangeEnd)}`);
      i += 2;
    } else {
      items.push(literal(c));
    }
  }
  return null;
}

function globToRegExp(glob: string): RegExp {
  const chars = [...glob];
  let source = '';
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] ?? '';
    const bracket = c === '[' ? bracketExpression(chars, i) : null;
    if (bracket !== null) {
      source += bracket.source;
      i = bracket.end;
    } else if (c === '*') source += '[^]*';
    else if (c === '?') source += '[^]';
    else if (c === '\\' && i + 1 < chars.length) source += literal(chars[++i] ?? '');
    else source += literal(c);
  }
  return new RegExp(`^${source}$`, 'u');
}

/**
 * Shell-style match of one file name: `*`, `?`, `[abc]`, `[a-z]`, `[!abc]`, backslash escapes.
 * As in sh, a leading `.` must be matched literally. No `[:alpha:]` classes, no `**`.
 */
export function matchGlob(glob: string, name: string): boolean {
  if (name.startsWith('.') && !glob.startsWith('.') && !glob.startsWith('\\.')) return false;
  return globToRegExp(glob).test(name);
}

// ---------------------------------------------------------------------------------------------
// Messages

function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function connectionLabel(username: string, host: string, port: number): string {
  return `ssh ${username}@${formatHostPort(host, port)}`;
}

/** Remote stderr as one short line for an error message. */
function stderrLine(stderr: Buffer | string): string {
  const text = stderr.toString().replace(/\s+/g, ' ').trim();
  return text.length > MAX_STDERR_IN_MESSAGE ? `${text.slice(0, MAX_STDERR_IN_MESSAGE)}…` : text;
}

function exitDescription(code: number | null, signal: string | null): string {
  return code !== null ? `exit code ${code}` : `signal ${signal ?? 'unknown'}`;
}

interface ConnectErrorContext {
  label: string;
  host: string;
  readyTimeoutMs: number;
  authMethods: string;
}

/** Maps an ssh2 client error raised before `ready` to a UserError. */
function connectError(err: unknown, ctx: ConnectErrorContext): UserError {
  const { code, level } = err as { code?: unknown; level?: unknown };
  const message = errorMessage(err);
  const fail = (errorCode: string, reason: string): UserError => new UserError(errorCode, `${ctx.label}: ${reason}`, { cause: err });
  if (level === 'client-timeout') {
    return fail('E_SSH_TIMEOUT', `no answer within ${ctx.readyTimeoutMs} ms while connecting and logging in`);
  }
  if (level === 'client-authentication') {
    return fail('E_SSH_AUTH', `authentication failed (tried ${ctx.authMethods}); check the user name and that the server accepts this key`);
  }
  if (code === 'ECONNREFUSED') return fail('E_SSH_CONNECT', 'connection refused (is sshd listening on that port?)');
  if (code === 'ENOTFOUND' || code === 'EAI_NODATA') return fail('E_SSH_CONNECT', `cannot resolve host name ${ctx.host}`);
  if (code === 'EAI_AGAIN') return fail('E_SSH_CONNECT', `temporary failure resolving host name ${ctx.host}; try again`);
  if (typeof code === 'string') return fail('E_SSH_CONNECT', `${message} (${code})`);
  if (level === 'handshake') return fail('E_SSH_CONNECT', `SSH handshake failed: ${message}`);
  return fail('E_SSH_CONNECT', message);
}

// ---------------------------------------------------------------------------------------------
// Host key policy

interface HostKeyPolicy {
  fingerprint?: string;
  knownHosts?: { path: string; entries: KnownHostEntry[] };
}

interface Target {
  label: string;
  host: string;
  port: number;
}

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

async function loadHostKeyPolicy(opts: SshOptions, target: Target): Promise<HostKeyPolicy> {
  const { knownHostsPath, hostKeyFingerprint: pinned } = opts;
  if (knownHostsPath === undefined && pinned === undefined) {
    throw new UserError(
      'E_HOSTKEY_POLICY',
      `${target.label}: refusing to connect without host key verification; give a known_hosts file or a pinned SHA256 fingerprint`,
    );
  }
  const policy: HostKeyPolicy = {};
  if (pinned !== undefined) {
    const fingerprint = pinned.trim().replace(/=+$/, '');
    if (!FINGERPRINT.test(fingerprint)) {
      throw new UserError(
        'E_HOSTKEY_POLICY',
        `${target.label}: ${JSON.stringify(pinned)} is not a SHA256 host key fingerprint; expected SHA256:<43 base64 characters>, as ssh-keygen -lf prints it`,
      );
    }
    policy.fingerprint = fingerprint;
  }
  if (knownHostsPath !== undefined) {
    let text: string;
    try {
      text = await readFile(knownHostsPath, 'utf8');
    } catch (err) {
      throw new UserError('E_HOSTKEY_POLICY', `${target.label}: cannot read known_hosts file ${knownHostsPath}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    policy.knownHosts = { path: knownHostsPath, entries: parseKnownHosts(text) };
  }
  return policy;
}

function checkPinned(expected: string, presented: string, keyType: string, target: Target): UserError | null {
  if (presented === expected) return null;
  return new UserError(
    'E_HOSTKEY',
    `${target.label}: host key mismatch: the server presented ${presented} (${keyType}) but the pinned fingerprint is ${expected}; refusing to connect`,
  );
}

function checkKnownHostsFile(
  knownHosts: { path: string; entries: KnownHostEntry[] },
  presented: string,
  keyType: string,
  key: Buffer,
  target: Target,
): UserError | null {
  const { path, entries } = knownHosts;
  const status = checkKnownHost(entries, target.host, target.port, keyType, key);
  const name = knownHostsName(target.host, target.port);
  switch (status) {
    case 'match':
      return null;
    case 'revoked': {
      const line = entries.find((e) => e.marker === 'revoked' && e.key.equals(key))?.line;
      return new UserError(
        'E_HOSTKEY',
        `${target.label}: the server presented ${presented} (${keyType}), which ${path} line ${line} marks @revoked; refusing to connect`,
      );
    }
    case 'mismatch': {
      const known = entriesForHost(entries, target.host, target.port);
      const expected = known.find((e) => e.keyType === keyType) ?? known[0];
      const where = expected === undefined ? path : `${path} line ${expected.line}`;
      const wanted = expected === undefined ? 'another key' : `${hostKeyFingerprint(expected.key)} (${expected.keyType})`;
      return new UserError(
        'E_HOSTKEY',
        `${target.label}: host key mismatch: the server presented ${presented} (${keyType}) but ${where} expects ${wanted}; refusing to connect (if the key was changed on purpose, remove the old entry with: ssh-keygen -R ${shellQuote(name)} -f ${shellQuote(path)})`,
      );
    }
    case 'unknown':
      return new UserError(
        'E_HOSTKEY_UNKNOWN',
        `${target.label}: host ${name} is not in ${path} (the server presented ${presented}, ${keyType}); after checking that fingerprint out of band, add it with: ssh-keyscan -p ${target.port} ${shellQuote(target.host)} >> ${shellQuote(path)}`,
      );
  }
}

/** Null when the presented key passes every check the caller asked for, else the refusal. */
function verifyHostKey(policy: HostKeyPolicy, key: Buffer, target: Target): UserError | null {
  const presented = hostKeyFingerprint(key);
  const keyType = blobKeyType(key) ?? 'unknown key type';
  if (policy.fingerprint !== undefined) {
    const refusal = checkPinned(policy.fingerprint, presented, keyType, target);
    if (refusal !== null) return refusal;
  }
  if (policy.knownHosts !== undefined) {
    return checkKnownHostsFile(policy.knownHosts, presented, keyType, key, target);
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Connecting

async function loadPrivateKey(path: string, target: Target): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    throw new UserError('E_SSH_KEY', `${target.label}: cannot read private key ${path}: ${errorMessage(err)}`, { cause: err });
  }
  const parsed = (await loadSsh2()).utils.parseKey(data);
  if (parsed instanceof Error) {
    const hint = /passphrase/i.test(parsed.message) ? ' (passphrase-protected keys are not supported: load it into ssh-agent)' : '';
    throw new UserError('E_SSH_KEY', `${target.label}: ${path} is not a usable private key: ${parsed.message}${hint}`, { cause: parsed });
  }
  const key = Array.isArray(parsed) ? (parsed as unknown[])[0] : parsed;
  if (!(key as { isPrivateKey?: () => boolean } | undefined)?.isPrivateKey?.()) {
    throw new UserError('E_SSH_KEY', `${target.label}: ${path} holds a public key, not a private key`);
  }
  return data;
}

function authMethods(opts: SshOptions): string {
  const methods: string[] = [];
  if (opts.privateKeyPath !== undefined) methods.push(`key file ${opts.privateKeyPath}`);
  if (opts.agent) methods.push(`ssh-agent at ${opts.agent}`);
  return methods.join(' and ');
}

function buildConnectConfig(opts: SshOptions, target: Target, privateKey: Buffer | undefined, policy: HostKeyPolicy): ConnectConfig {
  const known = policy.knownHosts === undefined ? [] : entriesForHost(policy.knownHosts.entries, target.host, target.port);
  const serverHostKey = preferredHostKeyAlgorithms(known);
  const algorithms: NonNullable<ConnectConfig['algorithms']> = {};
  if (serverHostKey !== undefined) algorithms.serverHostKey = serverHostKey as typeof algorithms.serverHostKey;
  if (opts.compress === true) algorithms.compress = ['zlib@openssh.com', 'zlib', 'none'];
  const config: ConnectConfig = {
    host: target.host,
    port: target.port,
    username: opts.username,
    readyTimeout: opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
    keepaliveInterval: KEEPALIVE_INTERVAL_MS,
    keepaliveCountMax: KEEPALIVE_COUNT_MAX,
    algorithms,
  };
  if (privateKey !== undefined) config.privateKey = privateKey;
  if (opts.agent) config.agent = opts.agent;
  return config;
}

/**
 * Opens an SSH connection. Refuses to connect without a host key policy, refuses keys that do
 * not pass it, and turns every failure into a UserError naming `user@host:port`.
 */
export async function sshConnect(opts: SshOptions): Promise<SshConnection> {
  const port = opts.port ?? DEFAULT_PORT;
  const target: Target = { label: connectionLabel(opts.username, opts.host, port), host: opts.host, port };
  const policy = await loadHostKeyPolicy(opts, target);
  const privateKey = opts.privateKeyPath === undefined ? undefined : await loadPrivateKey(opts.privateKeyPath, target);
  if (privateKey === undefined && !opts.agent) {
    throw new UserError(
      'E_SSH_AUTH',
      `${target.label}: no private key file and no ssh-agent socket to log in with; give a key file or start ssh-agent`,
    );
  }
  const config = buildConnectConfig(opts, target, privateKey, policy);
  const ctx: ConnectErrorContext = {
    label: target.label,
    host: target.host,
    readyTimeoutMs: config.readyTimeout ?? DEFAULT_READY_TIMEOUT_MS,
    authMethods: authMethods(opts),
  };
  const { Client } = await loadSsh2();
  return openConnection(
    () => new Client(),
    config,
    ctx,
    (key) => verifyHostKey(policy, key, target),
  );
}

function openConnection(
  newClient: () => Ssh2Client,
  config: ConnectConfig,
  ctx: ConnectErrorContext,
  verify: (key: Buffer) => UserError | null,
): Promise<SshConnection> {
  return new Promise((resolve, reject) => {
    const client = newClient();
    const connection = new SshConnection(client, ctx.label);
    let refusal: UserError | null = null;
    let isSettled = false;
    const settle = (err: UserError | null): void => {
      if (isSettled) return;
      isSettled = true;
      client.off('ready', onReady).off('error', onError).off('close', onClose);
      if (err === null) {
        resolve(connection);
      } else {
        client.destroy();
        reject(err);
      }
    };
    const onReady = (): void => settle(null);
    // A refused host key surfaces from ssh2 as a generic handshake error: report our reason.
    const onError = (err: unknown): void => settle(refusal ?? connectError(err, ctx));
    const onClose = (): void =>
      settle(refusal ?? new UserError('E_SSH_CONNECT', `${ctx.label}: the server closed the connection before login completed`));
    client.on('ready', onReady).on('error', onError).on('close', onClose);
    const hostVerifier = (key: Buffer): boolean => {
      refusal = verify(key);
      return refusal === null;
    };
    try {
      client.connect({ ...config, hostVerifier });
      // Without it Nagle's algorithm meets delayed ACKs and every exec round trip costs ~40 ms.
      client.setNoDelay(true);
    } catch (err) {
      settle(new UserError('E_SSH_CONNECT', `${ctx.label}: ${errorMessage(err)}`, { cause: err }));
    }
  });
}

// ---------------------------------------------------------------------------------------------
// The connection

/** One open SSH connection. Get it from `sshConnect`; `close()` it when done. */
export class SshConnection {
  readonly label: string;
  private readonly client: Ssh2Client;
  /** Why the connection died after login, for the operations that were waiting on it. */
  private lostReason: string | null = null;

  constructor(client: Ssh2Client, label: string) {
    this.client = client;
    this.label = label;
    // ssh2 emits 'error' for a dead connection at any time; without a listener that would crash
    // the process instead of failing the operation that was waiting.
    client.on('error', (err: unknown) => {
      this.lostReason = errorMessage(err);
    });
    client.on('close', () => {
      this.lostReason ??= 'the connection was closed';
    });
  }

  /** Runs `argv` (quoted with shellCommand) and collects its output. Times out after 60 s by default. */
  exec(argv: readonly string[], opts: { timeoutMs?: number; stdin?: Buffer | string } = {}): Promise<ExecResult> {
    const command = shellCommand(argv);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    return this.openExec(command, timeoutMs, (channel) =>
      this.collect(channel, command, Math.max(0, deadline - Date.now()), timeoutMs, opts.stdin),
    );
  }

  /**
   * Streams a remote file: `cat -- path`, or with `compress` `gzip -c -- path` gunzipped here.
   * Resolves once the first bytes arrive (or the whole empty file did); a file that cannot be read
   * rejects with E_SSH_FILE naming it. A failure later on destroys the stream with E_SSH_FILE.
   * `timeoutMs` (default 60 s) bounds the wait for the first bytes, not the whole transfer.
   */
  streamFile(path: string, opts: { compress?: boolean; timeoutMs?: number } = {}): Promise<Readable> {
    const isCompressed = opts.compress === true;
    return this.streamOutput(isCompressed ? ['gzip', '-c', '--', path] : ['cat', '--', path], path, isCompressed, opts.timeoutMs);
  }

  /**
   * Runs `argv` and streams its stdout with streamFile's guarantees: resolves at the first byte,
   * ends the stream only after exit status 0, and fails with E_SSH_FILE ("cannot read `what`").
   * For commands that open a file once and report on it before its bytes (see dnslog's sources).
   * `stdin` is written to the command and closed (say, names to work on, which never go through
   * the command line and its length limit); `gunzip`: its output is gzip'ed, unzip it here.
   */
  streamCommand(
    argv: readonly string[],
    what: string,
    opts: { timeoutMs?: number; stdin?: Buffer; gunzip?: boolean } = {},
  ): Promise<Readable> {
    return this.streamOutput(argv, what, opts.gunzip === true, opts.timeoutMs, opts.stdin);
  }

  private streamOutput(
    argv: readonly string[],
    what: string,
    gunzip: boolean,
    timeoutMs = DEFAULT_EXEC_TIMEOUT_MS,
    stdin?: Buffer,
  ): Promise<Readable> {
    const command = shellCommand(argv);
    return this.openExec(
      command,
      timeoutMs,
      (channel) =>
        new Promise<Readable>((resolve, reject) => {
          channel.end(stdin);
          const source: Readable = gunzip ? channel.pipe(createGunzip()) : channel;
          pipeRemoteFile({ channel, source, path: what, command, label: this.label, timeoutMs }, resolve, reject);
        }),
    );
  }

  /**
   * Opens a direct-tcpip channel: the TCP connection to dstHost:dstPort is made by the remote
   * host. Times out after 10 s by default.
   */
  forwardOut(dstHost: string, dstPort: number, opts: { timeoutMs?: number } = {}): Promise<Duplex> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_FORWARD_TIMEOUT_MS;
    const destination = formatHostPort(dstHost, dstPort);
    if (!Number.isInteger(dstPort) || dstPort < 1 || dstPort > 65_535) {
      return Promise.reject(new UserError('E_SSH_FORWARD', `${this.label}: cannot forward to ${destination}: not a port number`));
    }
    return this.openChannel(
      `open a connection to ${destination} from the remote host`,
      timeoutMs,
      'E_SSH_FORWARD',
      (done) => this.client.forwardOut('127.0.0.1', 0, dstHost, dstPort, done),
      (channel): Duplex => channel,
    );
  }

  /** Ends the connection. Operations still running fail. */
  close(): void {
    this.client.end();
  }

  private openExec<T>(command: string, timeoutMs: number, use: (channel: ClientChannel) => Promise<T>): Promise<T> {
    return this.openChannel(`run ${command}`, timeoutMs, 'E_SSH_CONNECT', (done) => this.client.exec(command, done), use);
  }

  /**
   * Opens a channel with a timeout; a channel that arrives after the timeout is closed at once.
   * `use` runs synchronously inside ssh2's callback: the exit status, EOF and close of a quick
   * command can arrive in the same packet batch as the open confirmation, and a listener added
   * after an `await` would miss them.
   */
  private openChannel<T>(
    what: string,
    timeoutMs: number,
    failCode: string,
    open: (done: (err: Error | undefined, channel: ClientChannel) => void) => void,
    use: (channel: ClientChannel) => T | Promise<T>,
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      let isTimedOut = false;
      const timer = setTimeout(() => {
        isTimedOut = true;
        reject(new UserError('E_SSH_TIMEOUT', `${this.label}: could not ${what}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (err: Error | undefined, channel: ClientChannel): void => {
        clearTimeout(timer);
        if (isTimedOut) {
          if (!err) channel.close();
          return;
        }
        if (err) reject(new UserError(failCode, `${this.label}: could not ${what}: ${this.lostReason ?? err.message}`, { cause: err }));
        else resolve(use(channel));
      };
      try {
        open(done);
      } catch (err) {
        // ssh2 throws synchronously when the connection is already gone.
        clearTimeout(timer);
        reject(new UserError('E_SSH_CONNECT', `${this.label}: not connected (${this.lostReason ?? errorMessage(err)})`, { cause: err }));
      }
    });
  }

  private collect(
    channel: ClientChannel,
    command: string,
    remainingMs: number,
    timeoutMs: number,
    stdin: Buffer | string | undefined,
  ): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let exit: { code: number | null; signal: string | null } | null = null;
      let isSettled = false;
      // Output is complete once the channel closed and stderr ended, in whichever order.
      let pending = 2;
      const timer = setTimeout(() => {
        isSettled = true;
        // Closing the channel makes sshd close the command's pipes; a command that never writes
        // again may still run to its end on the remote host.
        channel.close();
        reject(new UserError('E_SSH_TIMEOUT', `${this.label}: ${command} did not finish within ${timeoutMs} ms; the channel was closed`));
      }, remainingMs);
      const finish = (): void => {
        if (--pending > 0 || isSettled) return;
        isSettled = true;
        clearTimeout(timer);
        if (exit === null) {
          reject(
            new UserError(
              'E_SSH_CONNECT',
              `${this.label}: ${command} ended without an exit status: ${this.lostReason ?? 'channel closed'}`,
            ),
          );
        } else {
          resolve({ stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr), ...exit });
        }
      };
      channel.on('data', (chunk: Buffer) => stdout.push(chunk));
      channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      channel.on('exit', (code: number | null, signal?: string) => {
        exit = { code: code ?? null, signal: code === null ? (signal ?? null) : null };
      });
      channel.stderr.on('end', finish);
      channel.on('close', finish);
      channel.end(stdin);
    });
  }
}

interface RemoteFile {
  channel: ClientChannel;
  /** The channel, or the gunzip stream it feeds. */
  source: Readable;
  path: string;
  command: string;
  label: string;
  timeoutMs: number;
}

/**
 * Copies `source` into the returned stream, but ends it only once the remote command has exited
 * 0: a read error half-way must not look like a short file. Before the first byte, failures reject.
 */
function pipeRemoteFile(file: RemoteFile, resolve: (stream: Readable) => void, reject: (err: UserError) => void): void {
  const { channel, source, path, label } = file;
  const out = new PassThrough();
  const stderr: Buffer[] = [];
  let exit: { code: number | null; signal: string | null } | null = null;
  let sourceState: 'flowing' | 'ended' | Error = 'flowing';
  let isStderrEnded = false;
  let isOpen = false;
  let isDone = false;

  const open = (): void => {
    clearTimeout(timer);
    if (!isOpen) resolve(out);
    isOpen = true;
  };
  const fail = (err: UserError): void => {
    if (isDone) return;
    isDone = true;
    clearTimeout(timer);
    channel.close();
    if (source !== channel) source.destroy();
    if (isOpen) {
      out.destroy(err);
    } else {
      out.destroy();
      reject(err);
    }
  };
  const fileError = (reason: string): UserError => new UserError('E_SSH_FILE', `${label}: cannot read ${path}: ${reason}`);
  const decide = (): void => {
    if (isDone || exit === null || !isStderrEnded) return;
    if (exit.code !== 0) {
      fail(fileError(stderrLine(Buffer.concat(stderr)) || `${file.command} failed with ${exitDescription(exit.code, exit.signal)}`));
    } else if (sourceState instanceof Error) {
      fail(fileError(`bad gzip data: ${sourceState.message}`));
    } else if (sourceState === 'ended') {
      isDone = true;
      open();
      out.end();
    }
  };
  const timer = setTimeout(() => {
    fail(new UserError('E_SSH_TIMEOUT', `${label}: no data from ${file.command} within ${file.timeoutMs} ms`));
  }, file.timeoutMs);

  source.pipe(out, { end: false });
  source.once('data', open);
  source.on('end', () => {
    sourceState = 'ended';
    decide();
  });
  // A gunzip error (e.g. nothing to unzip because the file is missing) waits for the exit status,
  // which holds the better reason.
  source.on('error', (err: Error) => {
    sourceState = err;
    decide();
  });
  channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  channel.stderr.on('end', () => {
    isStderrEnded = true;
    decide();
  });
  channel.on('exit', (code: number | null, signal?: string) => {
    exit = { code: code ?? null, signal: code === null ? (signal ?? null) : null };
    decide();
  });
  channel.on('close', () => {
    if (exit === null) fail(fileError(`the channel closed without an exit status`));
  });
  // The reader gave up early: stop the remote command rather than let it fill the window.
  out.on('close', () => {
    if (!isDone) fail(fileError('the stream was closed before the end of the file'));
  });
}
