import { describe, expect, it } from 'vitest';
import { LineClock, bucketTime, isoIn, isRepeated, msText, offsetMs, textMs, timeZone, utcText, wallMs, wallOf } from './zone.js';

const berlin = timeZone('Europe/Berlin');

function run(zone: string, lines: readonly (readonly [string, string | null])[]): (string | null)[] {
  const clock = new LineClock(timeZone(zone));
  return lines.map(([wall, suffix]) => clock.toUtc(wall, suffix));
}

describe('time zones', () => {
  it('reads offsets and names; an unknown zone is one clear error', () => {
    expect(offsetMs('Z')).toBe(0);
    expect(offsetMs('+0100')).toBe(3_600_000);
    expect(offsetMs('-05:30')).toBe(-19_800_000);
    expect(offsetMs('+01')).toBe(3_600_000);
    expect(offsetMs('Europe/Berlin')).toBeNull();
    expect(timeZone('utc').name).toBe('UTC');
    expect(timeZone('Etc/UTC').name).toBe('UTC');
    expect(timeZone('+05:30').offsetAt(0)).toBe(19_800_000);
    expect(() => timeZone('Europe/Berlln')).toThrow(/--tz 'Europe\/Berlln': not a time zone/);
    expect(() => timeZone('$(reboot)', '--assume-tz')).toThrow(/--assume-tz/);
  });

  it('knows Berlin summer and winter time, and the instants of a wall reading at both changes', () => {
    expect(berlin.offsetAt(Date.UTC(2026, 0, 15))).toBe(3_600_000);
    expect(berlin.offsetAt(Date.UTC(2026, 6, 15))).toBe(7_200_000);
    // 25 Oct 2026: 02:30 happens twice (00:30 UTC in CEST, 01:30 UTC in CET).
    expect(berlin.instantsOf(Date.UTC(2026, 9, 25, 2, 30))).toEqual([Date.UTC(2026, 9, 25, 0, 30), Date.UTC(2026, 9, 25, 1, 30)]);
    // 29 Mar 2026: 02:30 does not happen; read with the offset before the change.
    expect(berlin.instantsOf(Date.UTC(2026, 2, 29, 2, 30))).toEqual([Date.UTC(2026, 2, 29, 1, 30)]);
    expect(berlin.instantsOf(Date.UTC(2026, 2, 29, 3, 30))).toEqual([Date.UTC(2026, 2, 29, 1, 30)]);
  });

  it('resolves the repeated hour at the fall-back by file order', () => {
    const out = run('Europe/Berlin', [
      ['2026-10-25 01:59:59.000', null],
      ['2026-10-25 02:00:00.000', null], // first pass (CEST)
      ['2026-10-25 02:30:00.500', null],
      ['2026-10-25 02:30:00.400', null], // a line a little out of order: still the first pass
      ['2026-10-25 02:59:59.999', null],
      ['2026-10-25 02:00:00.100', null], // back by an hour: the second pass (CET)
      ['2026-10-25 02:30:00.000', null],
      ['2026-10-25 03:00:00.000', null],
    ]);
    expect(out).toEqual([
      '2026-10-24 23:59:59.000',
      '2026-10-25 00:00:00.000',
      '2026-10-25 00:30:00.500',
      '2026-10-25 00:30:00.400',
      '2026-10-25 00:59:59.999',
      '2026-10-25 01:00:00.100',
      '2026-10-25 01:30:00.000',
      '2026-10-25 02:00:00.000',
    ]);
  });

  it('a quiet server whose next line after the change is only minutes back is in the second pass too', () => {
    expect(
      run('Europe/Berlin', [
        ['2026-10-25 02:20:00.000', null],
        ['2026-10-25 02:10:00.000', null],
      ]),
    ).toEqual(['2026-10-25 00:20:00.000', '2026-10-25 01:10:00.000']);
  });

  it('converts across the spring-forward gap, and lines with their own zone by it', () => {
    expect(
      run('Europe/Berlin', [
        ['2026-03-29 01:59:59.000', null],
        ['2026-03-29 03:00:00.000', null],
        ['2026-03-29 03:00:00.000', 'Z'],
        ['2026-03-29 04:00:00.000', '+02:00'],
        ['2026-03-29 10:00:00.000', '+0530'],
      ]),
    ).toEqual([
      '2026-03-29 00:59:59.000',
      '2026-03-29 01:00:00.000',
      '2026-03-29 03:00:00.000',
      '2026-03-29 02:00:00.000',
      '2026-03-29 04:30:00.000',
    ]);
  });

  it('a line more than an hour before the latest one is refused (null); later lines go on', () => {
    expect(
      run('UTC', [
        ['2026-11-25 12:00:00.000', null],
        ['2026-11-25 10:59:59.000', null],
        ['2026-11-25 11:00:01.000', null],
        ['2026-11-25 12:00:05.000', null],
      ]),
    ).toEqual(['2026-11-25 12:00:00.000', null, '2026-11-25 11:00:01.000', '2026-11-25 12:00:05.000']);
  });

  it('shows stored UTC in a reader zone, with the offset in ISO form', () => {
    expect(wallOf(berlin, '2026-07-01 10:00:00.000')).toBe('2026-07-01 12:00:00.000');
    expect(wallOf(berlin, '2026-12-01 10:00:00', 16)).toBe('2026-12-01 11:00');
    expect(isoIn(berlin, '2026-10-25 01:30:00.000')).toBe('2026-10-25T02:30:00.000+01:00');
    expect(isoIn(berlin, '2026-10-25 00:30:00.000')).toBe('2026-10-25T02:30:00.000+02:00');
    expect(isoIn(timeZone('UTC'), '2026-10-25 00:30:00.000')).toBe('2026-10-25T00:30:00.000Z');
    expect(isRepeated(berlin, '2026-10-25 00:30:00.000')).toBe(true);
    expect(isRepeated(berlin, '2026-10-25 02:30:00.000')).toBe(false);
    expect(utcText(new Date(textMs('2026-01-02 03:04:05.678')))).toBe('2026-01-02 03:04:05.678');
  });

  it('reads wall-clock texts and timeline buckets as ms through the one reader (textMs), and refuses anything else', () => {
    expect(wallMs('2026-11-25 09:41:07.123')).toBe(Date.UTC(2026, 10, 25, 9, 41, 7, 123));
    expect(wallMs('2026-11-25 09:41:07')).toBe(Date.UTC(2026, 10, 25, 9, 41, 7));
    expect(wallMs('2026-11-25 09:41')).toBe(Date.UTC(2026, 10, 25, 9, 41));
    expect(() => wallMs('25/11/2026 09:41')).toThrow('not a wall-clock time: "25/11/2026 09:41"');
    expect(msText(wallMs('2026-12-31 23:59:59.999') + 1)).toBe('2027-01-01 00:00:00.000');
    expect(bucketTime('2026-11-25 09:00')).toBe(Date.UTC(2026, 10, 25, 9));
    expect(bucketTime('2026-11-25')).toBe(Date.UTC(2026, 10, 25));
    expect(() => bucketTime('yesterday')).toThrow('not a timeline bucket: "yesterday"');
  });
});
