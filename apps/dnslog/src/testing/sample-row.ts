import type { QueryRow } from '../store/row.js';

/** A typical row (the real 9.18 line from the notes), with overrides. */
export const sampleRow = (over: Partial<QueryRow> = {}): QueryRow => ({
  time: '2026-11-25 09:38:30.348',
  clientIp: '127.0.0.1',
  clientPort: 54825,
  view: null,
  qname: 'example.test',
  qclass: 'IN',
  qtype: 'MX',
  flags: '+E(0)K',
  rd: true,
  edns: 0,
  tcp: false,
  do: false,
  cd: false,
  signed: false,
  cookie: 'present',
  destIp: '127.0.0.1',
  destPort: null,
  ecs: null,
  signer: null,
  ...over,
});
