/**
 * What `scripts/services.sh start` writes to `<dir>/env.json`, handed to the tests by the global
 * setup through vitest's provide/inject. Tests take every address, port and path from here.
 */
import { inject } from 'vitest';

/** A source address the MTA sees, and the relay verdict the test network's policy gives it. */
export interface Vantage {
  name: string;
  /** Network namespace holding the address, or null for the root namespace (bind it as source). */
  netns: string | null;
  address: string;
  /** Its name in sendmail's private hosts file. */
  hostname: string;
  /** Whether the MTA relays for it (RCPT to an external domain gets 250). */
  relays: boolean;
  why: string;
}

export interface ServicesEnv {
  dir: string;
  /** Components the last `start` started (empty: everything was already running). */
  started: string[];
  /** Runs a command with loopback-only /etc/resolv.conf, /etc/hosts and /etc/nsswitch.conf. */
  loOnlyWrapper: string;
  mariadb: {
    host: string;
    port: number;
    user: string;
    database: string;
    passwordFile: string;
    clientCnf: string;
    socket: string;
    /** The private CA that signed MariaDB's TLS certificate, and another CA that signed nothing here. */
    tlsCa: string;
    tlsOtherCa: string;
    version: string;
    pid: number;
  };
  named: {
    host: string;
    host6: string;
    port: number;
    rndcPort: number;
    rndcConf: string;
    queryLog: string;
    generalLog: string;
    zoneDir: string;
    zones: string[];
    pid: number;
  };
  sshd: {
    host: string;
    port: number;
    user: string;
    privateKey: string;
    publicKey: string;
    knownHosts: string;
    /** `SHA256:<base64>` as `ssh-keygen -lf` prints it. */
    hostKeyFingerprint: string;
    pid: number;
    /** The sshd inside the vantage namespace: its sessions and forwards originate there. */
    vantage: { netns: string; host: string; port: number; hostKeyFingerprint: string; pid: number };
  };
  sendmail: {
    netns: string;
    host: string;
    port: number;
    hostname: string;
    dir: string;
    queueDir: string;
    mc: string;
    cf: string;
    accessFile: string;
    relayDomainsFile: string;
    hostsFile: string;
    pidFile: string;
    pid: number;
  };
  network: {
    bridge: string;
    subnet: string;
    bridgeAddress: string;
    rootAddresses: string[];
    namespaces: Record<'mta' | 'v1' | 'v2', { name: string; addresses: string[] }>;
    vantages: Vantage[];
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    services: ServicesEnv;
  }
}

/** Parses env.json, failing with the file's name when it is not what services.sh writes. */
export function parseServicesEnv(text: string, path: string): ServicesEnv {
  const value: unknown = JSON.parse(text);
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
  if (!isObject(value)) throw new Error(`${path}: not a JSON object`);
  for (const key of ['mariadb', 'named', 'sshd', 'sendmail', 'network'] as const) {
    const section = value[key];
    if (!isObject(section)) throw new Error(`${path}: section "${key}" is missing; rerun services.sh start`);
  }
  return value as unknown as ServicesEnv;
}

/** The running services, inside a test file. */
export function services(): ServicesEnv {
  return inject('services');
}
