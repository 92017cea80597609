import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import ssh2 from 'ssh2';
import type { Connection, ParsedKey } from 'ssh2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from './errors.js';
import { itNeeds, missingCommand, sshKeyPair } from './testing.js';
import { checkKnownHost, hostKeyFingerprint, matchGlob, parseKnownHosts, parseSshUrl, sshConnect } from './ssh.js';
import type { SshConnection, SshOptions } from './ssh.js';

const needsSshKeygen = itNeeds(missingCommand(['/usr/bin/ssh-keygen'], existsSync));
const needsSshAgent = itNeeds(missingCommand(['/usr/bin/ssh-agent', '/usr/bin/ssh-add'], existsSync));

interface KeyPair {
  private: string;
  /** `type base64` line, as in an authorized_keys or .pub file. */
  public: string;
  /** The raw public key blob. */
  blob: Buffer;
  type: string;
}

function makeKey(type: 'ed25519' | 'ecdsa' = 'ed25519'): KeyPair {
  // ssh2's generator writes an ed25519 key its own parser calls "Malformed OpenSSH private key"
  // about once in 200 (16 of 3,000 here): a test that needs a good key takes the next one.
  const pair = sshKeyPair(type);
  const [keyType, base64] = pair.public.split(' ');
  return { private: pair.private, public: `${keyType} ${base64}`, blob: Buffer.from(base64 ?? '', 'base64'), type: keyType ?? '' };
}

/** What UserError a promise rejected with. */
async function rejection(promise: Promise<unknown>): Promise<UserError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof UserError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

// ---------------------------------------------------------------------------------------------
// Pure parts

describe('parseSshUrl', () => {
  it('reads user, host, port and path', () => {
    expect(parseSshUrl('ssh://alice@logs.example.com:2222/var/log/app')).toEqual({
      username: 'alice',
      host: 'logs.example.com',
      port: 2222,
      path: '/var/log/app',
    });
  });

  it('leaves out what the URL does not say', () => {
    expect(parseSshUrl('ssh://host')).toEqual({ host: 'host' });
    expect(parseSshUrl('SSH://10.0.0.1/')).toEqual({ host: '10.0.0.1', path: '/' });
  });

  it('takes IPv6 addresses in brackets, with or without a port', () => {
    expect(parseSshUrl('ssh://root@[::1]:22/tmp')).toEqual({ username: 'root', host: '::1', port: 22, path: '/tmp' });
    expect(parseSshUrl('ssh://[2001:db8::5]')).toEqual({ host: '2001:db8::5' });
  });

  it('percent-decodes the user name and the path', () => {
    expect(parseSshUrl('ssh://a%40b@h/var/my%20logs/%3F.log')).toEqual({ username: 'a@b', host: 'h', path: '/var/my logs/?.log' });
  });

  it.each([
    ['http://host/x', 'it does not start with ssh://'],
    ['ssh://', 'the host is missing'],
    ['ssh://@host', 'the user name before @ is empty'],
    ['ssh://alice:secret@host', 'passwords in URLs are not supported'],
    ['ssh://host:0', 'port "0" is not a number from 1 to 65535'],
    ['ssh://host:65536', 'port "65536" is not a number from 1 to 65535'],
    ['ssh://host:22x', 'port "22x" is not a number from 1 to 65535'],
    ['ssh://host:', 'port "" is not a number from 1 to 65535'],
    ['ssh://::1/x', 'an IPv6 address must be written in brackets'],
    ['ssh://[::1/x', 'bad IPv6 address in brackets'],
    ['ssh://[host]/x', 'bad IPv6 address in brackets'],
    ['ssh://-oProxyCommand=x/', '"-oProxyCommand=x" is not a host name'],
    ['ssh://host/a b', 'it contains spaces or control characters'],
    ['ssh://host/a?b', 'queries and fragments are not supported'],
    ['ssh://host/%zz', 'bad percent-encoding in the path'],
  ])('refuses %j', (url, reason) => {
    let error: unknown;
    try {
      parseSshUrl(url);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).code).toBe('E_SSH_URL');
    expect((error as UserError).message).toContain(`invalid ssh URL ${JSON.stringify(url)}: ${reason}`);
    expect((error as UserError).message).toContain('expected ssh://[user@]host[:port][/path]');
  });
});

describe('hostKeyFingerprint', () => {
  it('is SHA256 of the blob in unpadded base64', () => {
    const blob = Buffer.from('test blob');
    // echo -n 'test blob' | sha256sum | xxd -r -p | base64
    expect(hostKeyFingerprint(blob)).toBe('SHA256:KY03ywt6u+8mOcp+X/PyMmeKkpMUbWEKxj+GLg2mKzs');
  });

  needsSshKeygen('prints what ssh-keygen -lf prints', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ssh-fp-'));
    try {
      for (const type of ['ed25519', 'ecdsa'] as const) {
        const key = makeKey(type);
        await writeFile(join(dir, 'key.pub'), `${key.public} test\n`);
        const printed = execFileSync('ssh-keygen', ['-lf', join(dir, 'key.pub')], { encoding: 'utf8' });
        expect(printed.split(' ')[1]).toBe(hostKeyFingerprint(key.blob));
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('parseKnownHosts and checkKnownHost', () => {
  const a = makeKey();
  const b = makeKey();
  const c = makeKey('ecdsa');

  it('reads comma lists, [host]:port names, markers and line numbers; skips comments and junk', () => {
    const text = [
      '# comment',
      '',
      `web1,web1.example.com,10.0.0.1 ${a.public} comment words`,
      `[web2]:2222 ${b.public}`,
      `@revoked * ${c.public}`,
      `@cert-authority *.example.com ${b.public}`,
      `@bogus web3 ${a.public}`,
      'web4 ssh-ed25519 !!notbase64!!',
      `web5 ssh-rsa ${a.public.split(' ')[1]}`,
      `web6`,
    ].join('\r\n');
    const entries = parseKnownHosts(text);
    expect(entries.map((e) => [e.line, e.marker, e.hosts, e.keyType])).toEqual([
      [3, null, { kind: 'patterns', patterns: ['web1', 'web1.example.com', '10.0.0.1'] }, 'ssh-ed25519'],
      [4, null, { kind: 'patterns', patterns: ['[web2]:2222'] }, 'ssh-ed25519'],
      [5, 'revoked', { kind: 'patterns', patterns: ['*'] }, 'ecdsa-sha2-nistp256'],
      [6, 'cert-authority', { kind: 'patterns', patterns: ['*.example.com'] }, 'ssh-ed25519'],
    ]);
    expect(entries[0]?.key.equals(a.blob)).toBe(true);
  });

  it('matches by name, port, key type and key', () => {
    const entries = parseKnownHosts(`web1,10.0.0.1 ${a.public}\n[web2]:2222 ${b.public}\n`);
    expect(checkKnownHost(entries, 'web1', 22, a.type, a.blob)).toBe('match');
    expect(checkKnownHost(entries, 'WEB1', 22, a.type, a.blob)).toBe('match');
    expect(checkKnownHost(entries, '10.0.0.1', 22, a.type, a.blob)).toBe('match');
    expect(checkKnownHost(entries, 'web1', 22, b.type, b.blob)).toBe('mismatch');
    expect(checkKnownHost(entries, 'web1', 22, c.type, c.blob)).toBe('mismatch');
    expect(checkKnownHost(entries, 'web2', 2222, b.type, b.blob)).toBe('match');
    expect(checkKnownHost(entries, 'web2', 22, b.type, b.blob)).toBe('unknown');
    expect(checkKnownHost(entries, 'web1', 2222, a.type, a.blob)).toBe('unknown');
    expect(checkKnownHost(entries, 'web3', 22, a.type, a.blob)).toBe('unknown');
  });

  it('names IPv6 hosts on other ports in brackets', () => {
    const entries = parseKnownHosts(`[::1]:2222 ${a.public}\n::1 ${b.public}\n`);
    expect(checkKnownHost(entries, '::1', 2222, a.type, a.blob)).toBe('match');
    expect(checkKnownHost(entries, '::1', 22, b.type, b.blob)).toBe('match');
    expect(checkKnownHost(entries, '::1', 22, a.type, a.blob)).toBe('mismatch');
  });

  it('matches hashed names, computed as ssh-keygen -H does', () => {
    const salt = randomBytes(20);
    const hashed = (name: string): string => `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
    const entries = parseKnownHosts(`${hashed('web1')} ${a.public}\n${hashed('[web2]:2222')} ${b.public}\n`);
    expect(entries[0]?.hosts.kind).toBe('hashed');
    expect(checkKnownHost(entries, 'web1', 22, a.type, a.blob)).toBe('match');
    expect(checkKnownHost(entries, 'web2', 2222, b.type, b.blob)).toBe('match');
    expect(checkKnownHost(entries, 'web2', 2222, a.type, a.blob)).toBe('mismatch');
    expect(checkKnownHost(entries, 'web2', 22, b.type, b.blob)).toBe('unknown');
  });

  it('refuses a revoked key for every host, even one it matches', () => {
    const entries = parseKnownHosts(`web1 ${a.public}\n@revoked oldhost ${a.public}\n`);
    expect(checkKnownHost(entries, 'web1', 22, a.type, a.blob)).toBe('revoked');
  });

  it('ignores @cert-authority lines', () => {
    const entries = parseKnownHosts(`@cert-authority web1 ${a.public}\n`);
    expect(checkKnownHost(entries, 'web1', 22, a.type, a.blob)).toBe('unknown');
  });

  it('understands * and ? wildcards and !negation in host patterns', () => {
    const entries = parseKnownHosts(`*.example.com,!bad.example.com,web? ${a.public}\n`);
    expect(checkKnownHost(entries, 'x.example.com', 22, a.type, a.blob)).toBe('match');
    expect(checkKnownHost(entries, 'web7', 22, a.type, a.blob)).toBe('match');
    expect(checkKnownHost(entries, 'web77', 22, a.type, a.blob)).toBe('unknown');
    expect(checkKnownHost(entries, 'bad.example.com', 22, a.type, a.blob)).toBe('unknown');
  });
});

describe('matchGlob', () => {
  it.each([
    ['*.log', 'app.log', true],
    ['*.log', 'app.log.1', false],
    ['*.log', '.hidden.log', false],
    ['.*.log', '.hidden.log', true],
    ['app.log.?', 'app.log.1', true],
    ['app.log.?', 'app.log.12', false],
    ['app.log.[0-9]', 'app.log.7', true],
    ['app.log.[!0-9]', 'app.log.7', false],
    ['app.log.[^0-9]', 'app.log.x', true],
    ['[abc]*', 'beta', true],
    ['[abc]*', 'delta', false],
    ['[]x]', ']', true],
    ['[a-]', '-', true],
    ['[z-a]', 'm', false],
    ['[unclosed', '[unclosed', true],
    ['\\*', '*', true],
    ['\\*', 'x', false],
    ['a.b', 'aXb', false],
    ['(x)+', '(x)+', true],
    ['*', 'new\nline', true],
    ['new?line', 'new\nline', true],
    ['?', 'é', true],
    ['?', '🎉', true],
    ['日*', '日本語.log', true],
  ])('%j against %j is %j', (glob, name, expected) => {
    expect(matchGlob(glob, name)).toBe(expected);
  });
});

// ---------------------------------------------------------------------------------------------
// Against an in-process ssh2 server that really runs commands with /bin/sh -c

interface FakeServer {
  port: number;
  /** What each connection negotiated. */
  handshakes: Array<{ compress: string }>;
  connections: number;
  close(): Promise<void>;
}

function startServer(hostKeys: string[], authorized: ParsedKey, cwd: string): Promise<FakeServer> {
  const clients = new Set<Connection>();
  const children = new Set<ChildProcess>();
  const handshakes: FakeServer['handshakes'] = [];
  const server = new ssh2.Server({ hostKeys }, (client) => {
    clients.add(client);
    result.connections++;
    client.on('error', () => {});
    client.on('close', () => clients.delete(client));
    client.on('handshake', (negotiated) => handshakes.push({ compress: negotiated.cs.compress }));
    client.on('authentication', (ctx) => {
      const isKey = ctx.method === 'publickey' && ctx.key.algo === authorized.type && ctx.key.data.equals(authorized.getPublicSSH());
      if (!isKey) return ctx.reject(['publickey']);
      if (ctx.signature === undefined || ctx.blob === undefined) return ctx.accept();
      if (authorized.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) ctx.accept();
      else ctx.reject(['publickey']);
    });
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        acceptSession().on('exec', (accept, _reject, info) => {
          const channel = accept();
          const child = spawn('/bin/sh', ['-c', info.command], { cwd });
          children.add(child);
          channel.pipe(child.stdin);
          child.stdin.on('error', () => {});
          child.stdout.pipe(channel, { end: false });
          child.stderr.pipe(channel.stderr);
          child.on('close', (code, signal) => {
            children.delete(child);
            if (code !== null) channel.exit(code);
            else channel.exit(signal?.replace(/^SIG/, '') ?? 'KILL');
            channel.end();
          });
          channel.on('close', () => child.kill('SIGKILL'));
        });
      });
      client.on('tcpip', (accept, reject, info) => {
        const socket = net.connect(info.destPort, info.destIP);
        socket.once('error', () => reject());
        socket.once('connect', () => {
          const channel = accept();
          channel.pipe(socket).pipe(channel);
        });
      });
    });
  });
  const result: FakeServer = {
    port: 0,
    handshakes,
    connections: 0,
    close: () =>
      new Promise((resolve) => {
        for (const child of children) child.kill('SIGKILL');
        for (const client of clients) client.end();
        server.close(() => resolve());
      }),
  };
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      result.port = (server.address() as net.AddressInfo).port;
      resolve(result);
    });
  });
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A port on which nothing listens: bound, read back, closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await closeServer(server);
  return port;
}

describe('sshConnect and SshConnection', () => {
  const hostKey = makeKey();
  const clientKey = makeKey();
  const otherKey = makeKey();
  let dir: string;
  let keyPath: string;
  let server: FakeServer;
  const connections: SshConnection[] = [];
  const cleanups: Array<() => Promise<void> | void> = [];

  /** Options for the fake server, with a known_hosts file holding its key under [127.0.0.1]:port. */
  async function options(extra: Partial<SshOptions> = {}): Promise<SshOptions> {
    const knownHostsPath = join(dir, 'known_hosts');
    await writeFile(knownHostsPath, `[127.0.0.1]:${server.port} ${hostKey.public}\n`);
    return { host: '127.0.0.1', port: server.port, username: 'tester', privateKeyPath: keyPath, knownHostsPath, ...extra };
  }

  async function connect(extra: Partial<SshOptions> = {}): Promise<SshConnection> {
    const connection = await sshConnect(await options(extra));
    connections.push(connection);
    return connection;
  }

  async function knownHostsFile(text: string): Promise<string> {
    const path = join(dir, `known_hosts.${randomBytes(4).toString('hex')}`);
    await writeFile(path, text);
    return path;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ssh-test-'));
    keyPath = join(dir, 'id_ed25519');
    await writeFile(keyPath, clientKey.private, { mode: 0o600 });
    server = await startServer([hostKey.private], ssh2.utils.parseKey(clientKey.public) as ParsedKey, dir);
  });

  afterEach(async () => {
    for (const connection of connections.splice(0)) connection.close();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe('host key verification', () => {
    it('connects with a key file and a known_hosts [127.0.0.1]:port entry', async () => {
      const ssh = await connect();
      const result = await ssh.exec(['echo', 'hello']);
      expect(result.stdout.toString()).toBe('hello\n');
    });

    it('connects when the name is one of a comma list', async () => {
      const knownHostsPath = await knownHostsFile(`other.example,[127.0.0.1]:${server.port} ${hostKey.public}\n`);
      await connect({ knownHostsPath });
    });

    needsSshKeygen('connects with a known_hosts file hashed by ssh-keygen -H', async () => {
      const knownHostsPath = await knownHostsFile(`[127.0.0.1]:${server.port} ${hostKey.public}\n`);
      execFileSync('ssh-keygen', ['-H', '-f', knownHostsPath], { stdio: 'ignore' });
      expect(await readFile(knownHostsPath, 'utf8')).toMatch(/^\|1\|/);
      await connect({ knownHostsPath });
    });

    it('connects with a pinned fingerprint and no known_hosts', async () => {
      await connect({ knownHostsPath: undefined, hostKeyFingerprint: hostKeyFingerprint(hostKey.blob) });
      // The same fingerprint with base64 padding, as some tools print it.
      await connect({ knownHostsPath: undefined, hostKeyFingerprint: `${hostKeyFingerprint(hostKey.blob)}=` });
    });

    it('asks for the key type known_hosts holds when the server has several', async () => {
      await server.close();
      const ecdsa = makeKey('ecdsa');
      server = await startServer([hostKey.private, ecdsa.private], ssh2.utils.parseKey(clientKey.public) as ParsedKey, dir);
      const knownHostsPath = await knownHostsFile(`[127.0.0.1]:${server.port} ${ecdsa.public}\n`);
      await connect({ knownHostsPath });
    });

    it('refuses a key that differs from known_hosts, naming host:port, both fingerprints and the line', async () => {
      const knownHostsPath = await knownHostsFile(`# keys\n[127.0.0.1]:${server.port} ${otherKey.public}\n`);
      const error = await rejection(connect({ knownHostsPath }));
      expect(error.code).toBe('E_HOSTKEY');
      expect(error.message).toBe(
        `ssh tester@127.0.0.1:${server.port}: host key mismatch: the server presented ${hostKeyFingerprint(hostKey.blob)} (ssh-ed25519) ` +
          `but ${knownHostsPath} line 2 expects ${hostKeyFingerprint(otherKey.blob)} (ssh-ed25519); refusing to connect ` +
          `(if the key was changed on purpose, remove the old entry with: ssh-keygen -R '[127.0.0.1]:${server.port}' -f ${knownHostsPath})`,
      );
    });

    it('refuses a key that differs from the pinned fingerprint', async () => {
      const pinned = hostKeyFingerprint(otherKey.blob);
      const error = await rejection(connect({ knownHostsPath: undefined, hostKeyFingerprint: pinned }));
      expect(error.code).toBe('E_HOSTKEY');
      expect(error.message).toBe(
        `ssh tester@127.0.0.1:${server.port}: host key mismatch: the server presented ${hostKeyFingerprint(hostKey.blob)} (ssh-ed25519) ` +
          `but the pinned fingerprint is ${pinned}; refusing to connect`,
      );
    });

    it('refuses when either of two given policies fails', async () => {
      const pinned = hostKeyFingerprint(otherKey.blob);
      const error = await rejection(connect({ hostKeyFingerprint: pinned }));
      expect(error.code).toBe('E_HOSTKEY');
    });

    it('refuses an unknown host and says how to add it', async () => {
      // A bare 127.0.0.1 entry is for port 22 only.
      const knownHostsPath = await knownHostsFile(`127.0.0.1 ${hostKey.public}\n`);
      const error = await rejection(connect({ knownHostsPath }));
      expect(error.code).toBe('E_HOSTKEY_UNKNOWN');
      expect(error.message).toBe(
        `ssh tester@127.0.0.1:${server.port}: host [127.0.0.1]:${server.port} is not in ${knownHostsPath} ` +
          `(the server presented ${hostKeyFingerprint(hostKey.blob)}, ssh-ed25519); after checking that fingerprint out of band, ` +
          `add it with: ssh-keyscan -p ${server.port} 127.0.0.1 >> ${knownHostsPath}`,
      );
    });

    it('refuses a revoked key', async () => {
      const knownHostsPath = await knownHostsFile(`[127.0.0.1]:${server.port} ${hostKey.public}\n@revoked * ${hostKey.public}\n`);
      const error = await rejection(connect({ knownHostsPath }));
      expect(error.code).toBe('E_HOSTKEY');
      expect(error.message).toContain(`which ${knownHostsPath} line 2 marks @revoked; refusing to connect`);
    });

    it('refuses to connect at all without a host key policy', async () => {
      const error = await rejection(connect({ knownHostsPath: undefined }));
      expect(error.code).toBe('E_HOSTKEY_POLICY');
      expect(error.message).toBe(
        `ssh tester@127.0.0.1:${server.port}: refusing to connect without host key verification; give a known_hosts file or a pinned SHA256 fingerprint`,
      );
      expect(server.connections).toBe(0);
    });

    it('refuses a fingerprint that is not SHA256', async () => {
      const error = await rejection(connect({ knownHostsPath: undefined, hostKeyFingerprint: 'MD5:aa:bb' }));
      expect(error.code).toBe('E_HOSTKEY_POLICY');
      expect(error.message).toContain('"MD5:aa:bb" is not a SHA256 host key fingerprint');
    });

    it('refuses a known_hosts file it cannot read', async () => {
      const error = await rejection(connect({ knownHostsPath: join(dir, 'missing') }));
      expect(error.code).toBe('E_HOSTKEY_POLICY');
      expect(error.message).toContain(`cannot read known_hosts file ${join(dir, 'missing')}: ENOENT`);
    });
  });

  describe('connection failures', () => {
    it('fails fast with E_SSH_CONNECT on a closed port', async () => {
      const port = await closedPort();
      const started = Date.now();
      const error = await rejection(connect({ port }));
      expect(Date.now() - started).toBeLessThan(2000);
      expect(error.code).toBe('E_SSH_CONNECT');
      expect(error.message).toBe(`ssh tester@127.0.0.1:${port}: connection refused (is sshd listening on that port?)`);
    });

    it('times out on a server that never speaks', async () => {
      const silent = net.createServer(() => {});
      const sockets = new Set<net.Socket>();
      silent.on('connection', (socket) => sockets.add(socket));
      const port = await listen(silent);
      cleanups.push(() => {
        for (const socket of sockets) socket.destroy();
        return closeServer(silent);
      });
      const error = await rejection(connect({ port, readyTimeoutMs: 300 }));
      expect(error.code).toBe('E_SSH_TIMEOUT');
      expect(error.message).toBe(`ssh tester@127.0.0.1:${port}: no answer within 300 ms while connecting and logging in`);
    });

    it('reports a refused key as E_SSH_AUTH', async () => {
      const otherPath = join(dir, 'id_other');
      await writeFile(otherPath, otherKey.private, { mode: 0o600 });
      const error = await rejection(connect({ privateKeyPath: otherPath }));
      expect(error.code).toBe('E_SSH_AUTH');
      expect(error.message).toBe(
        `ssh tester@127.0.0.1:${server.port}: authentication failed (tried key file ${otherPath}); check the user name and that the server accepts this key`,
      );
    });

    it('reports an unreadable or unusable key file as E_SSH_KEY', async () => {
      const missing = await rejection(connect({ privateKeyPath: join(dir, 'nope') }));
      expect(missing.code).toBe('E_SSH_KEY');
      expect(missing.message).toContain(`cannot read private key ${join(dir, 'nope')}: ENOENT`);
      const publicPath = join(dir, 'id.pub');
      await writeFile(publicPath, clientKey.public);
      const isPublic = await rejection(connect({ privateKeyPath: publicPath }));
      expect(isPublic.code).toBe('E_SSH_KEY');
      expect(isPublic.message).toContain('holds a public key, not a private key');
    });

    it('refuses to start without a key file or an agent', async () => {
      const error = await rejection(connect({ privateKeyPath: undefined }));
      expect(error.code).toBe('E_SSH_AUTH');
    });

    needsSshAgent('logs in through ssh-agent', async () => {
      const socket = join(dir, 'agent.sock');
      const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
      cleanups.push(() => {
        agent.kill();
      });
      for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 20));
      await chmod(keyPath, 0o600);
      execFileSync('ssh-add', [keyPath], { env: { ...process.env, SSH_AUTH_SOCK: socket }, stdio: 'ignore' });
      const ssh = await connect({ privateKeyPath: undefined, agent: socket });
      expect((await ssh.exec(['echo', 'agent'])).stdout.toString()).toBe('agent\n');
    });

    it('fails operations on a closed connection with E_SSH_CONNECT', async () => {
      const ssh = await connect();
      ssh.close();
      await new Promise((r) => setTimeout(r, 50));
      const error = await rejection(ssh.exec(['true']));
      expect(error.code).toBe('E_SSH_CONNECT');
    });
  });

  describe('exec', () => {
    it('returns stdout, stderr and the exit code', async () => {
      const ssh = await connect();
      const result = await ssh.exec(['sh', '-c', 'printf out; printf err >&2; exit 3']);
      expect(result).toEqual({ stdout: Buffer.from('out'), stderr: Buffer.from('err'), code: 3, signal: null });
    });

    it('reports a command killed by a signal', async () => {
      const ssh = await connect();
      // The fake server's own /bin/sh -c is the process whose end it reports: kill that one.
      const result = await ssh.exec(['sh', '-c', 'kill -TERM $PPID']);
      expect(result.code).toBeNull();
      expect(result.signal).toBe('SIGTERM');
    });

    it('regression: keeps the exit status of a command that ends in the same packets as the channel opened', async () => {
      // The exit status used to be lost when ssh2 delivered it before the listeners were attached
      // behind an await; the read then ended with "ended without an exit status".
      const ssh = await connect();
      for (let i = 0; i < 40; i++) {
        const stream = await ssh.streamFile(join(dir, 'id_ed25519'));
        stream.destroy();
        expect((await ssh.exec(['exit', '7'])).code).toBe(7);
      }
    }, 20_000);

    it('feeds stdin', async () => {
      const ssh = await connect();
      const result = await ssh.exec(['tr', 'a-z', 'A-Z'], { stdin: 'shout\n' });
      expect(result.stdout.toString()).toBe('SHOUT\n');
    });

    it('passes file names with spaces, quotes, backslashes, newlines and a leading dash unchanged', async () => {
      const ssh = await connect();
      const names = [`it's a "quoted" \\back\\slash\nand newline.log`, '-n', '$(touch pwned) `touch pwned` *.log'];
      for (const name of names) {
        await writeFile(join(dir, name), `content of ${name}`);
        const cat = await ssh.exec(['cat', '--', name]);
        expect(cat.stdout.toString()).toBe(`content of ${name}`);
        const printed = await ssh.exec(['printf', '%s', name]);
        expect(printed.stdout.toString()).toBe(name);
      }
      expect(existsSync(join(dir, 'pwned'))).toBe(false);
    });

    it('gives up after timeoutMs with E_SSH_TIMEOUT and keeps the connection usable', async () => {
      const ssh = await connect();
      const started = Date.now();
      const error = await rejection(ssh.exec(['sleep', '5'], { timeoutMs: 200 }));
      expect(Date.now() - started).toBeLessThan(2000);
      expect(error.code).toBe('E_SSH_TIMEOUT');
      expect(error.message).toBe(`ssh tester@127.0.0.1:${server.port}: sleep 5 did not finish within 200 ms; the channel was closed`);
      expect((await ssh.exec(['echo', 'still here'])).stdout.toString()).toBe('still here\n');
    });

    it('negotiates zlib compression only when asked', async () => {
      const plain = await connect();
      await plain.exec(['true']);
      const compressed = await connect({ compress: true });
      await compressed.exec(['true']);
      expect(server.handshakes.map((h) => h.compress)).toEqual(['none', 'zlib@openssh.com']);
    });
  });

  describe('streamFile', () => {
    const body = Buffer.from(Array.from({ length: 20_000 }, (_, i) => `line ${i} ${'x'.repeat(i % 50)}\n`).join(''));

    it.each([false, true])('streams a file (compress: %s)', async (compress) => {
      const ssh = await connect();
      const name = join(dir, `it's a log -${compress}.log`);
      await writeFile(name, body);
      const stream = await ssh.streamFile(name, { compress });
      expect((await readAll(stream)).equals(body)).toBe(true);
    });

    it.each([false, true])('streams an empty file (compress: %s)', async (compress) => {
      const ssh = await connect();
      await writeFile(join(dir, 'empty'), '');
      expect((await readAll(await ssh.streamFile(join(dir, 'empty'), { compress }))).length).toBe(0);
    });

    it.each([false, true])('rejects a missing file with E_SSH_FILE naming it (compress: %s)', async (compress) => {
      const ssh = await connect();
      const path = join(dir, 'no such file.log');
      const error = await rejection(ssh.streamFile(path, { compress }));
      expect(error.code).toBe('E_SSH_FILE');
      expect(error.message).toMatch(
        new RegExp(`^ssh tester@127\\.0\\.0\\.1:${server.port}: cannot read ${path}: .*No such file or directory`),
      );
    });

    it('stops the remote command when the reader gives up early', async () => {
      const ssh = await connect();
      await writeFile(join(dir, 'big'), Buffer.concat([body, body, body, body]));
      const stream = await ssh.streamFile(join(dir, 'big'));
      stream.destroy();
      expect((await ssh.exec(['echo', 'ok'])).stdout.toString()).toBe('ok\n');
    });
  });

  describe('streamCommand', () => {
    it.each([false, true])('writes stdin to the command and streams its output, gunzipped when asked (gzip: %s)', async (gzip) => {
      const ssh = await connect();
      const names = Buffer.from('a b\0-c\nd\0');
      const argv = ['sh', '-c', gzip ? 'xargs -0 printf "<%s>" | gzip -c' : 'xargs -0 printf "<%s>"'];
      const stream = await ssh.streamCommand(argv, 'names', { stdin: names, gunzip: gzip });
      expect((await readAll(stream)).toString()).toBe('<a b><-c\nd>');
    });
  });

  describe('forwardOut', () => {
    it('opens a connection from the remote host and round-trips data', async () => {
      const echo = net.createServer((socket) => socket.pipe(socket));
      const port = await listen(echo);
      cleanups.push(() => closeServer(echo));
      const ssh = await connect();
      const channel = await ssh.forwardOut('127.0.0.1', port);
      const received = new Promise<string>((resolve) => {
        let text = '';
        channel.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          if (text.endsWith('\n')) resolve(text);
        });
      });
      channel.write('ping through ssh\n');
      expect(await received).toBe('ping through ssh\n');
      channel.end();
    });

    it('fails with E_SSH_FORWARD when the remote side cannot connect', async () => {
      const ssh = await connect();
      const port = await closedPort();
      const error = await rejection(ssh.forwardOut('127.0.0.1', port));
      expect(error.code).toBe('E_SSH_FORWARD');
      expect(error.message).toContain(`could not open a connection to 127.0.0.1:${port} from the remote host`);
    });
  });
});
