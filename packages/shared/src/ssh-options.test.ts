import { homedir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { defaultKnownHosts, sshAuthOptions, sshUsername } from './ssh-options.js';

const env = { HOME: '/home/ops', USER: 'ops', SSH_AUTH_SOCK: '/run/agent.sock' };
const PIN = 'SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s';

describe('sshAuthOptions', () => {
  it('uses the agent and ~/.ssh/known_hosts by default', () => {
    expect(sshAuthOptions({}, env)).toEqual({ agent: '/run/agent.sock', knownHostsPath: '/home/ops/.ssh/known_hosts' });
  });

  it('uses a key file instead of the agent', () => {
    expect(sshAuthOptions({ sshKey: '/k/id_ed25519' }, env)).toEqual({
      privateKeyPath: '/k/id_ed25519',
      knownHostsPath: '/home/ops/.ssh/known_hosts',
    });
  });

  it('a pin replaces the default known_hosts, and is checked beside an explicit one', () => {
    expect(sshAuthOptions({ hostKeyFingerprint: PIN }, env)).toEqual({ agent: '/run/agent.sock', hostKeyFingerprint: PIN });
    expect(sshAuthOptions({ hostKeyFingerprint: PIN, knownHosts: '/etc/ssh/kh' }, env)).toEqual({
      agent: '/run/agent.sock',
      knownHostsPath: '/etc/ssh/kh',
      hostKeyFingerprint: PIN,
    });
  });

  // relay-audit connected with no host key policy at all (and was refused) when $HOME was unset
  it('still verifies against the account home known_hosts when $HOME is unset', () => {
    expect(sshAuthOptions({}, {})).toEqual({ knownHostsPath: defaultKnownHosts({}) });
    expect(defaultKnownHosts({})).toBe(`${homedir()}/.ssh/known_hosts`);
  });
});

describe('sshUsername', () => {
  it('takes the URL user, then --ssh-user, then $USER', () => {
    expect(sshUsername('ssh://a@h', 'a', 'b', env)).toBe('a');
    expect(sshUsername('ssh://h', undefined, 'b', env)).toBe('b');
    expect(sshUsername('ssh://h', undefined, undefined, env)).toBe('ops');
  });

  // --ssh-user defaulted to root when $USER was unset (cron, systemd units, containers)
  it('refuses to guess root when $USER is unset', () => {
    expect(() => sshUsername('ssh://ns1/var/log', undefined, undefined, {})).toThrow(
      'ssh://ns1/var/log: no user to log in as ($USER is not set); give --ssh-user or name it in the URL, ssh://user@host',
    );
    expect(sshUsername('ssh://root@ns1', 'root', undefined, {})).toBe('root');
  });
});
