import { describe, expect, it } from 'vitest';
import { classifyReply, overallVerdict, seenAs, verdictOf } from './classify.js';

describe('classifyReply', () => {
  it.each([
    ['RCPT', 250, '250 2.1.5 <x@y.example>... Recipient ok', 'ACCEPTED_RCPT'],
    ['RCPT', 251, '251 User not local; will forward', 'ACCEPTED_RCPT'],
    ['DATA', 250, '250 2.0.0 Message accepted for delivery', 'ACCEPTED_DATA'],
    ['RCPT', 550, '550 5.7.1 <x@y.example>... Relaying denied', 'DENIED'],
    ['RCPT', 553, '553 5.1.3 <@a:b@c>... Invalid route address', 'PROTOCOL_ERROR'],
    ['RCPT', 553, '553 5.7.1 Relaying denied', 'DENIED'],
    ['MAIL', 501, '501 5.1.7 Bad sender address syntax', 'PROTOCOL_ERROR'],
    ['MAIL', 530, '530 5.7.0 Must issue a STARTTLS command first', 'NEEDS_TLS'],
    ['MAIL', 530, '530 5.7.0 Authentication required', 'NEEDS_AUTH'],
    ['RCPT', 450, '450 4.4.0 <x@y.example>... Relaying temporarily denied', 'DENIED'],
    ['RCPT', 451, '451 4.3.0 try again later', 'TEMPFAIL'],
    ['RCPT', 421, '421 4.3.2 closing connection', 'CONN_LOST'],
    ['RCPT', Number.NaN, '', 'CONN_LOST'],
  ] as const)('%s %d %s → %s', (stage, code, text, cls) => {
    expect(classifyReply(stage, code, text)).toBe(cls);
  });
});

describe('verdicts', () => {
  it('open beats everything, a lost probe makes a refusal inconclusive', () => {
    expect(verdictOf(['DENIED', 'ACCEPTED_RCPT', 'CONN_LOST'])).toBe('open');
    expect(verdictOf(['DENIED', 'PROTOCOL_ERROR', 'NEEDS_AUTH'])).toBe('closed');
    expect(verdictOf(['DENIED', 'TEMPFAIL'])).toBe('inconclusive');
    expect(verdictOf([])).toBe('inconclusive');
    expect(overallVerdict(['closed', 'inconclusive'])).toBe('inconclusive');
    expect(overallVerdict(['closed', 'open', 'inconclusive'])).toBe('open');
    expect(overallVerdict(['closed', 'closed'])).toBe('closed');
  });
});

describe('seenAs', () => {
  it('reads sendmail and smtp-server greetings', () => {
    expect(seenAs('250-mta.toolbox.test Hello v1.toolbox.test [10.99.0.11], pleased to meet you\n250 HELP')).toMatchObject({
      name: 'v1.toolbox.test',
      address: '10.99.0.11',
    });
    expect(seenAs('250-mta.toolbox.test Hello [10.99.0.21], pleased to meet you')).toMatchObject({ name: null, address: '10.99.0.21' });
    expect(seenAs('250-mta.scripted.test Nice to meet you, [127.0.0.1]')).toMatchObject({ name: null, address: '127.0.0.1' });
    expect(seenAs('250 ok')).toMatchObject({ name: null, address: null });
  });
});
