/**
 * A throwaway CA and a server certificate it signed, made with the openssl command line, for tests
 * that need a certificate that verifies (and one that does not). The server certificate is valid
 * for 127.0.0.1 and mta.scripted.test.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';

export interface TestCa {
  dir: string;
  /** The CA certificate (PEM) and its path. */
  caCert: string;
  caPath: string;
  /** The server's key and certificate (PEM), signed by the CA. */
  key: string;
  cert: string;
  /** A self-signed certificate for the same names, from no CA at all. */
  selfSigned: { key: string; cert: string };
  remove(): void;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export function makeTestCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'relay-audit-ca-'));
  const f = (name: string): string => join(dir, name);
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  openssl(
    'req',
    '-x509',
    ...EC,
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-days',
    '3',
    '-subj',
    '/CN=relay-audit test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  openssl('req', ...EC, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=mta.scripted.test');
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:mta.scripted.test\nextendedKeyUsage=serverAuth\n');
  openssl(
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    f('server.ext'),
    '-out',
    f('server.pem'),
  );
  openssl(
    'req',
    '-x509',
    ...EC,
    '-keyout',
    f('self.key'),
    '-out',
    f('self.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=mta.scripted.test',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:mta.scripted.test',
  );
  const read = (name: string): string => readFileSync(f(name), 'utf8');
  return {
    dir,
    caCert: read('ca.pem'),
    caPath: f('ca.pem'),
    key: read('server.key'),
    cert: read('server.pem'),
    selfSigned: { key: read('self.key'), cert: read('self.pem') },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A test file's CA (made before its tests, removed after them) and its cleanups (each run after the
 * test that pushed it: MTAs closed, sockets ended).
 */
export function useTestCa(): { readonly ca: TestCa; readonly cleanups: (() => Promise<void> | void)[] } {
  let ca: TestCa | undefined;
  const cleanups: (() => Promise<void> | void)[] = [];
  beforeAll(() => {
    ca = makeTestCa();
  });
  afterAll(() => ca?.remove());
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });
  return {
    get ca(): TestCa {
      if (ca === undefined) throw new Error('the test CA is made in beforeAll');
      return ca;
    },
    cleanups,
  };
}
