import { describe, expect, it } from 'vitest';
import { durationFlag, durationOption, durationText, parseDuration } from './durations.js';

describe('parseDuration', () => {
  it('reads a whole number and its unit into milliseconds', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('6h')).toBe(21_600_000);
    expect(parseDuration('2d')).toBe(172_800_000);
    expect(parseDuration('1w')).toBe(604_800_000);
    expect(parseDuration(' 5s ')).toBe(5000);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('0s')).toBe(0);
  });
  it('refuses bare numbers, fractions, signs, unknown units and spaces inside', () => {
    for (const bad of ['5', '00', '1', '1.5s', '-5s', '+5s', '5sec', '5 s', 's', '', '5S', '1e3ms', '5s5m'])
      expect(parseDuration(bad), bad).toBeNull();
  });
});

describe('durationText', () => {
  it('prints the largest unit that is exact', () => {
    expect(durationText(0)).toBe('0s');
    expect(durationText(300_000)).toBe('5m');
    expect(durationText(1500)).toBe('1500ms');
    expect(durationText(86_400_000)).toBe('1d');
    expect(durationText(90_000)).toBe('90s');
  });
});

describe('durationOption', () => {
  it('takes a duration with a unit, silently', () => {
    const warnings: string[] = [];
    const parse = durationOption({ flag: '--timeout', min: 100, max: 60_000, bareUnit: 'ms', warn: (m) => warnings.push(m) });
    expect(parse('5s')).toBe(5000);
    expect(parse('250ms')).toBe(250);
    expect(warnings).toEqual([]);
  });
  it('reads a bare number in the old unit, with a deprecation line naming the new spelling', () => {
    const warnings: string[] = [];
    const ms = durationOption({ flag: '--timeout', min: 100, max: 600_000, bareUnit: 'ms', warn: (m) => warnings.push(m) });
    expect(ms('5000')).toBe(5000);
    const s = durationOption({ flag: '--lock-wait', min: 0, max: 86_400_000, bareUnit: 's', warn: (m) => warnings.push(m) });
    expect(s('300')).toBe(300_000);
    expect(warnings).toEqual([
      '--timeout 5000 without a unit is deprecated and read as 5000ms; write --timeout 5s',
      '--lock-wait 300 without a unit is deprecated and read as 300s; write --lock-wait 5m',
    ]);
  });
  it('refuses a bare number where none was ever taken, and values out of range', () => {
    const parse = durationOption({ flag: '--stale', min: 1000, max: 86_400_000 });
    expect(() => parse('6')).toThrow("'6' is not a duration: a whole number and a unit (500ms, 5s, 15m, 6h, 2d).");
    expect(() => parse('2d')).toThrow('2d is out of range 1s..1d.');
    expect(() => parse('10ms')).toThrow('10ms is out of range 1s..1d.');
    expect(() => parse('5 minutes')).toThrow('is not a duration');
  });
});

describe('durationFlag', () => {
  it('gives commander milliseconds and shows the default with its unit', async () => {
    const { Command } = await import('commander');
    const program = new Command('t')
      .exitOverride()
      .addOption(durationFlag('--timeout <duration>', 'per try', { flag: '--timeout', min: 1, max: 60_000 }, 2000));
    expect(program.helpInformation()).toContain('(default: 2s)');
    expect(program.parse([], { from: 'user' }).opts()).toEqual({ timeout: 2000 });
    expect(program.parse(['--timeout', '250ms'], { from: 'user' }).opts()).toEqual({ timeout: 250 });
  });
});
