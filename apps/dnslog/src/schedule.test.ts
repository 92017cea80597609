import { describe, expect, it } from 'vitest';
import { cronLines, planSchedule, systemdUnits } from './schedule.js';

const base = { log: '/var/log/named/query.log', db: 'mysql://dnslog@db1/dnslog?option-file=/etc/dnslog.cnf', firstMinute: 7, dnslog: '/usr/local/bin/dnslog' };

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
      "7 0,6,12,18 * * *  /usr/local/bin/dnslog rotate --log /var/log/named/query.log --host ssh://ns1 && " +
        "/usr/local/bin/dnslog ship 'ssh://ns1/var/log/named/query.log.*' --db mysql://dnslog@db1/dns\\%5Flog --min-age 0",
    );
  });

  it('prints a systemd service and timer per server', () => {
    const text = systemdUnits(planSchedule({ ...base, servers: [], everyHours: 12 }));
    expect(text).toContain('# file: /etc/systemd/system/dnslog-rotate-local.timer');
    expect(text).toContain('OnCalendar=*-*-* 00,12:07:00');
    expect(text).toContain("ExecStart=/usr/local/bin/dnslog ship '/var/log/named/query.log.*' --db 'mysql://dnslog@db1/dnslog?option-file=/etc/dnslog.cnf' --min-age 0");
  });

  it('refuses a period that does not divide the day', () => {
    expect(() => planSchedule({ ...base, servers: [], everyHours: 5 })).toThrow('--every 5h: give a divisor of 24 hours');
  });
});
