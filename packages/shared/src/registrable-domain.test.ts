import { describe, expect, it } from 'vitest';
import { registrableDomain } from './registrable-domain.js';

describe('registrableDomain: the Public Suffix List (ICANN section)', () => {
  it.each([
    ['www.example.com', 'example.com'],
    ['a.b.example.co.uk.', 'example.co.uk'],
    ['Mail.Example.COM.', 'example.com'],
    ['mx.a.gone.test.', 'gone.test'],
    ['mta.toolbox.test', 'toolbox.test'],
    ['_dmarc.example.org', 'example.org'],
    // what each app's own rule got wrong: mx-check's last two labels, relay-audit's "minus the first
    // label", dnslog's short list of second-level labels
    ['mx.example.co.uk', 'example.co.uk'],
    ['example.co.uk', 'example.co.uk'],
    ['www.example.gv.at', 'example.gv.at'],
    ['www.example.kawasaki.jp', 'www.example.kawasaki.jp'],
    ['www.city.kawasaki.jp', 'city.kawasaki.jp'],
    ['a.b.example.com.au', 'example.com.au'],
    // the private section is not used: a hosting service is not a registry
    ['user.github.io', 'github.io'],
    // no registrable part: the name itself
    ['co.uk', 'co.uk'],
    ['localhost', 'localhost'],
    ['192.0.2.1', '192.0.2.1'],
  ])('%s → %s', (name, domain) => {
    expect(registrableDomain(name)).toBe(domain);
  });
});
