/** `dnslog schedule`: prints the cron lines or systemd units planned by schedule.ts. */
import type { CliIo } from '@toolbox/shared';
import { cronLines, planSchedule, systemdUnits } from '../ship/schedule.js';

export interface ScheduleCommandOptions {
  log: string;
  /** --every, in milliseconds. */
  every: number;
  host?: string[];
  db: string;
  rndc?: string;
  sshKey?: string;
  firstMinute: number;
  dnslog: string;
  format: 'cron' | 'systemd';
}

export function runSchedule(opts: ScheduleCommandOptions, io: CliIo): void {
  const jobs = planSchedule({
    servers: opts.host ?? [],
    everyHours: opts.every / 3_600_000,
    log: opts.log,
    db: opts.db,
    firstMinute: opts.firstMinute,
    dnslog: opts.dnslog,
    rndc: opts.rndc,
    sshKey: opts.sshKey,
  });
  io.stdout.write(opts.format === 'cron' ? cronLines(jobs) : systemdUnits(jobs));
}
