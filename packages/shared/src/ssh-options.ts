/**
 * The SSH command-line options every app takes (`--ssh-user`, `--ssh-key`, `--known-hosts`,
 * `--host-key-fingerprint`) turned into connection options, one way for every app.
 */
import { homedir } from 'node:os';
import path from 'node:path';
import { UserError } from './errors.js';

export interface SshCliOptions {
  sshUser?: string;
  sshKey?: string;
  knownHosts?: string;
  hostKeyFingerprint?: string;
}

/** Login and host-key options for `sshConnect`, without host, port and user. */
export interface SshAuthOptions {
  privateKeyPath?: string;
  agent?: string;
  knownHostsPath?: string;
  hostKeyFingerprint?: string;
}

/**
 * A key file when given, else the agent of `$SSH_AUTH_SOCK`. Host keys: a pinned fingerprint
 * replaces the default known_hosts (~/.ssh/known_hosts); an explicit --known-hosts is always
 * checked, beside a pin when both are given.
 */
export function sshAuthOptions(opts: SshCliOptions, env: NodeJS.ProcessEnv): SshAuthOptions {
  const knownHosts = opts.knownHosts ?? (opts.hostKeyFingerprint === undefined ? defaultKnownHosts(env) : undefined);
  return {
    ...(opts.sshKey === undefined ? (env.SSH_AUTH_SOCK ? { agent: env.SSH_AUTH_SOCK } : {}) : { privateKeyPath: opts.sshKey }),
    ...(knownHosts === undefined ? {} : { knownHostsPath: knownHosts }),
    ...(opts.hostKeyFingerprint === undefined ? {} : { hostKeyFingerprint: opts.hostKeyFingerprint }),
  };
}

/** ~/.ssh/known_hosts: $HOME, or the account's home directory when $HOME is unset. */
export function defaultKnownHosts(env: NodeJS.ProcessEnv): string {
  return path.join(env.HOME || homedir(), '.ssh', 'known_hosts');
}

/**
 * The user to log in as: the URL's, else --ssh-user, else $USER. Never a guess such as root: with
 * none of them, a UserError says how to name one.
 */
export function sshUsername(url: string, urlUser: string | undefined, sshUser: string | undefined, env: NodeJS.ProcessEnv): string {
  const user = urlUser ?? sshUser ?? env.USER;
  if (user === undefined || user === '') {
    throw new UserError(
      'E_SSH_USER',
      `${url}: no user to log in as ($USER is not set); give --ssh-user or name it in the URL, ssh://user@host`,
    );
  }
  return user;
}
