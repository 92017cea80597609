import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cronLines, planSchedule, systemdArg, systemdUnits } from './schedule.js';

const base = {
  log: '/var/log/named/query.log',
  db: 'mysql://dnslog@db1/dnslog?option-file=/etc/dnslog.cnf',
  firstMinute: 7,
  dnslog: '/usr/local/bin/dnslog',
};

describe('schedule', () => {
  it('staggers servers across the period, never on the hour', () => {
    const jobs = planSchedule({ ...base, servers: ['ssh://ns1', 'ssh://ns2', 'ssh://ns3'], everyHours: 4 });
    expect(jobs.map((j) => [j.minute, j.hours])).toEqual([
      [7, [0, 4, 8, 12, 16, 20]],
      [24, [1, 5, 9, 13, 17, 21]],
      [41, [2, 6, 10, 14, 18, 22]],
    ]);
    for (const j of jobs) expect(j.minute).not.toBe(0);
  });

  it('prints cron lines that rotate then ship, quoted, with % escaped for cron', () => {
    const text = cronLines(planSchedule({ ...base, db: 'mysql://dnslog@db1/dns%5Flog', servers: ['ssh://ns1'], everyHours: 6 }));
    expect(text.split('\n')[1]).toBe(
      '7 0,6,12,18 * * *  /usr/local/bin/dnslog rotate --log /var/log/named/query.log --host ssh://ns1 && ' +
        "/usr/local/bin/dnslog ship 'ssh://ns1/var/log/named/query.log.*' --db mysql://dnslog@db1/dns\\%5Flog --min-age 0",
    );
  });

  it('prints a systemd service and timer per server', () => {
    const text = systemdUnits(planSchedule({ ...base, servers: [], everyHours: 12 }));
    expect(text).toContain('# file: /etc/systemd/system/dnslog-rotate-local.timer');
    expect(text).toContain('OnCalendar=*-*-* 00,12:07:00');
    expect(text).toContain(
      'ExecStart=/usr/local/bin/dnslog ship "/var/log/named/query.log.*" --db "mysql://dnslog@db1/dnslog?option-file=/etc/dnslog.cnf" --min-age 0',
    );
  });

  it('quotes ExecStart= arguments for systemd: % and $ doubled, quotes and backslashes escaped (regression: % was a specifier)', () => {
    expect(systemdArg('/usr/local/bin/dnslog')).toBe('/usr/local/bin/dnslog');
    expect(systemdArg('mysql://u@db/dns%5Flog')).toBe('mysql://u@db/dns%%5Flog');
    expect(systemdArg('it\'s $HOME \\ "q";')).toBe(`"it's $$HOME \\\\ \\"q\\";"`);
    expect(systemdArg(';')).toBe('";"');
    expect(systemdArg('a\nb')).toBe('"a\\x0ab"');
    const text = systemdUnits(planSchedule({ ...base, db: 'mysql://dnslog@db1/dns%5Flog', servers: ['ssh://ns%1'], everyHours: 6 }));
    expect(text).toContain('--db mysql://dnslog@db1/dns%%5Flog');
    expect(text).toContain('Description=Rotate and ship the BIND query log of ssh://ns%%1 (dnslog)');
  });

  it('prints units that systemd-analyze verify accepts, hostile arguments included (and it refuses the unescaped %)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dnslog-units-'));
    try {
      const verify = (name: string, text: string) => {
        writeFileSync(join(dir, name), text);
        const r = spawnSync('systemd-analyze', ['verify', join(dir, name)], { encoding: 'utf8' });
        if (r.error) throw new Error(`systemd-analyze (package systemd; scripts/install-test-tools.sh installs it): ${r.error.message}`);
        return r;
      };
      // The executable must exist for verify: /bin/true stands in for dnslog.
      const jobs = planSchedule({
        ...base,
        dnslog: '/bin/true',
        db: 'mysql://dnslog@db1/dns%5Flog?option-file=/etc/my $dir/it\'s "x".cnf',
        servers: ['ssh://ns1:2222/var/log/named/'],
        everyHours: 6,
      });
      const files = new Map<string, string>();
      let current = '';
      for (const line of systemdUnits(jobs).split('\n')) {
        const m = /^# file: \/etc\/systemd\/system\/(.+)$/.exec(line);
        if (m?.[1]) files.set((current = m[1]), '');
        else if (current) files.set(current, `${files.get(current) ?? ''}${line}\n`);
      }
      expect([...files.keys()]).toEqual(['dnslog-rotate-ns1.service', 'dnslog-rotate-ns1.timer']);
      for (const [name, text] of files) {
        const r = verify(name, text);
        expect(r.status, `${name}: ${r.stderr}`).toBe(0);
      }
      const unescaped = verify('bad.service', (files.get('dnslog-rotate-ns1.service') ?? '').replace('%%5F', '%5F'));
      expect(unescaped.status).not.toBe(0);
      expect(unescaped.stderr).toContain('Failed to resolve unit specifiers');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a period that does not divide the day', () => {
    expect(() => planSchedule({ ...base, servers: [], everyHours: 5 })).toThrow('--every 5h: give a divisor of 24 hours');
  });
});
