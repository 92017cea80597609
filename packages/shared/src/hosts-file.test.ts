import { describe, expect, it } from 'vitest';
import { parseHostsFile } from './hosts-file.js';

describe('parseHostsFile', () => {
  it('reads addresses and names, skipping comments, blank lines and lines without a name', () => {
    const text =
      '# comment\n127.0.0.1\tlocalhost\n\n10.0.0.1  A.partner.test  a # the partner\r\n10.0.0.2\n::1 ip6-localhost partner.test.\n';
    expect(parseHostsFile(text)).toEqual([
      { line: 2, address: '127.0.0.1', names: ['localhost'] },
      { line: 4, address: '10.0.0.1', names: ['a.partner.test', 'a'] },
      { line: 6, address: '::1', names: ['ip6-localhost', 'partner.test'] },
    ]);
  });
  it('skips a line whose first field is not an address', () => {
    expect(parseHostsFile('not-an-ip name\n999.0.0.1 x\n192.0.2.1 ok\n')).toEqual([{ line: 3, address: '192.0.2.1', names: ['ok'] }]);
  });
});
