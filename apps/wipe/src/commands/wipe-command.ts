/**
 * The wipe job: inspect and refuse, show and confirm, then per target (in parallel) write each pass,
 * flush it, verify it from the medium, and record it all in the report.
 */
import { constants, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { createProgress, fileId, formatBytes, oneLine, UserError, writeJson, type CliIo } from '@toolbox/shared/cli';
import { probeDirectRead } from '../passes/aligned.js';
import { inspectTarget, probeSignatures, readSystemState, type TargetInfo } from '../target/device.js';
import { newStreamKey, type StreamKey } from '../passes/keystream.js';
import { describeSource, hexBytes, planBytes, type PassSource, type WipePlan } from '../passes/plan-wipe.js';
import {
  coverageOf,
  formatReport,
  mbPerSecond,
  resumePoint,
  targetVerification,
  unwrittenOf,
  type PassRecord,
  type TargetRecord,
  type WipeReport,
} from '../report/report.js';
import { errText } from '../errno-text.js';
import { findFileUse, inPlaceOf, type FileUse } from '../target/file-use.js';
import { fdPath, identityOf, openVerified, removeVerified, reopenVerified, type TargetIdentity } from '../target/open-target.js';
import { ReportFile } from '../report/report-file.js';
import { assessTarget } from '../target/safety.js';
import { verifyPass } from '../passes/verify.js';
import { rangesBelow, writePass, type PassIo } from '../passes/write-pass.js';

export type WriteMode = 'auto' | 'direct' | 'buffered';

export interface WipeDeps {
  io: CliIo;
  stdin: Readable;
  signal: AbortSignal;
  version: string;
  now?: () => Date;
}

export interface WipeOptions {
  targets: string[];
  plan: WipePlan | null;
  yes: boolean;
  dryRun: boolean;
  json: boolean;
  reportFile: string | null;
  remove: boolean;
  resume: string | null;
  writeMode: WriteMode;
  /** Record the blocks a write fails on and go on, instead of stopping at the first error. */
  continueOnError?: boolean;
  chunk?: number;
}

interface Prepared {
  info: TargetInfo;
  record: TargetRecord;
  /** Per pass: where to start writing (bytes already done). */
  sources: PassSource[];
  keys: (StreamKey | null)[];
}

function sourceFromRecord(p: PassRecord): PassSource {
  if (p.pattern === 'random') return { kind: 'random' };
  return { kind: 'pattern', bytes: Uint8Array.from(p.pattern.split(' ').map((x) => parseInt(x, 16))) };
}

/** A report file: a JSON report, or --json output whose last 'report' line holds it. */
export async function loadReport(file: string): Promise<WipeReport> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    throw new UserError('E_RESUME', `cannot read report ${file}: ${errText(err as NodeJS.ErrnoException)}`);
  }
  const candidates = [text, ...text.split('\n').reverse()];
  for (const c of candidates) {
    try {
      const v = JSON.parse(c) as Partial<WipeReport> & { event?: string; report?: WipeReport };
      const r = v.event === 'report' && v.report ? v.report : v;
      if (r.tool === 'wipe' && Array.isArray(r.targets)) return r as WipeReport;
    } catch {
      // not this line
    }
  }
  throw new UserError('E_RESUME', `${file} is not a wipe report`);
}

function expectedAnswer(info: TargetInfo): string {
  return info.block?.name ?? path.basename(info.resolved);
}

type Signatures = Record<string, string> | null;

/** blkid of the target and each partition, started together (blkid only reads). */
function probeTargetSignatures(info: TargetInfo): Promise<Signatures[]> {
  const names = [info.resolved, ...(info.block?.partitions.map((x) => `/dev/${x.name}`) ?? [])];
  return Promise.all(names.map((n) => probeSignatures(n)));
}

async function describeTarget(info: TargetInfo, warnings: string[], signatures: Promise<Signatures[]>): Promise<string> {
  const lines = [
    `${info.path}${info.isSymlink ? ` -> ${info.resolved}` : ''}: ${info.kind === 'block' ? 'block device' : 'regular file'}, ${info.sizeBytes} bytes (${formatBytes(info.sizeBytes)})`,
  ];
  const b = info.block;
  if (b) {
    if (b.model || b.serial) lines.push(`  model ${b.model ?? '-'}, serial ${b.serial ?? '-'}`);
    if (b.backingFile) lines.push(`  loop device backed by ${b.backingFile}`);
    if (b.partitions.length > 0) lines.push(`  partitions: ${b.partitions.map((x) => x.name).join(', ')}`);
  }
  const names = [info.resolved, ...(b?.partitions.map((x) => `/dev/${x.name}`) ?? [])];
  const sigs = await signatures;
  const seen: string[] = [];
  for (const [i, n] of names.entries()) {
    const sig = sigs[i] ?? null;
    if (sig === null) {
      seen.push('(blkid not installed: signatures unknown)');
      break;
    }
    const what = [sig.TYPE && `${sig.TYPE}${sig.LABEL ? ` "${sig.LABEL}"` : ''}`, sig.PTTYPE && `${sig.PTTYPE} partition table`].filter(
      Boolean,
    );
    if (what.length > 0) seen.push(`${path.basename(n)}: ${what.join(', ')}`);
  }
  lines.push(`  signatures seen: ${seen.length > 0 ? seen.join('; ') : 'none'}`);
  for (const w of warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n');
}

/** Asks one question per call over a single reader, so piped answers for several targets all arrive. */
function lineReader(
  stdin: Readable,
  signal: AbortSignal,
): { ask: (prompt: string, out: CliIo['stderr']) => Promise<string | null>; close: () => void } {
  // Loaded here: with --yes (scripts, the benchmark) nothing is asked and readline is not needed.
  const rl = process.getBuiltinModule('node:readline').createInterface({ input: stdin, terminal: false });
  const lines = rl[Symbol.asyncIterator]();
  let closed = false;
  const close = (): void => {
    if (!closed) rl.close();
    closed = true;
  };
  const ask = async (prompt: string, out: CliIo['stderr']): Promise<string | null> => {
    out.write(prompt);
    const interrupted = new Promise<never>((_, reject) => {
      const onAbort = (): void => reject(new UserError('E_INTERRUPTED', 'interrupted at the question; nothing written', { exitCode: 130 }));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    const next = await Promise.race([lines.next(), interrupted]);
    return next.done ? null : String(next.value).trim();
  };
  return { ask, close };
}

/**
 * Opens a target for writing, once, and proves it is the one inspected (open-target.ts): O_EXCL on
 * block devices, so that the kernel refuses one in use; O_DIRECT through the same descriptor.
 */
async function openForWrite(info: TargetInfo, direct: boolean): Promise<PassIo & { identity: TargetIdentity }> {
  const identity = identityOf(info);
  const fh = await openVerified(info, identity);
  const align = Math.max(512, info.block?.logicalBlockSize ?? 4096);
  let directFh: fsp.FileHandle | null = null;
  if (direct) {
    try {
      // null: the filesystem does not do O_DIRECT: the page cache and fdatasync it is
      directFh = await reopenVerified(fh, info, identity, constants.O_WRONLY | constants.O_DIRECT);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }
  return { fh, direct: directFh, align, identity };
}

/** sysfs size × 512 must agree with the device: a read just before the end works, at the end gets 0. */
async function checkBlockSize(fh: fsp.FileHandle, info: TargetInfo): Promise<void> {
  const size = info.sizeBytes;
  if (size === 0) return;
  const buf = Buffer.alloc(512);
  const before = await fh.read(buf, 0, 512, size - 512);
  const after = await fh.read(buf, 0, 512, size);
  if (before.bytesRead !== 512 || after.bytesRead !== 0) {
    throw new UserError(
      'E_SIZE',
      `${info.path}: sysfs says ${size} bytes but the device ends elsewhere (read ${before.bytesRead} bytes before that end, ${after.bytesRead} after); refusing`,
    );
  }
}

function newRecord(info: TargetInfo, plan: WipePlan, warnings: string[], keys: (StreamKey | null)[], now: Date): TargetRecord {
  return {
    target: info.path,
    resolved: info.resolved,
    kind: info.kind === 'block' ? 'block' : 'file',
    model: info.block?.model ?? null,
    serial: info.block?.serial ?? null,
    sizeBytes: info.sizeBytes,
    rotational: info.block?.rotational ?? null,
    method: plan.method,
    sanitization: 'Clear',
    writeMode: 'page cache',
    passes: plan.passes.map((p, i) => ({
      index: p.index,
      pattern: p.source.kind === 'random' ? 'random' : hexBytes(p.source.bytes),
      random: keys[i] ?? null,
      verifyPlanned: p.verify,
      bytesWritten: 0,
      status: 'not started',
      unwritten: [],
      seconds: 0,
      mbPerSecond: 0,
      verify: null,
    })),
    verification: 'not run',
    outcome: 'failed',
    error: null,
    removed: false,
    warnings,
    startedAt: now.toISOString(),
    endedAt: now.toISOString(),
  };
}

const ASSUMED_RATE = { rotational: 150e6, flash: 500e6 };

function estimateSeconds(info: TargetInfo, plan: WipePlan): number {
  const b = planBytes(plan, info.sizeBytes);
  const rate = info.block?.rotational ? ASSUMED_RATE.rotational : ASSUMED_RATE.flash;
  return (b.write + b.verify) / rate;
}

/** What every step of a run shares. */
interface Run {
  opts: WipeOptions;
  deps: WipeDeps;
  now: () => Date;
  startedAt: Date;
  /** The report being resumed, if any. */
  resumed: WipeReport | null;
  /** Progress text: stdout, or stderr when stdout carries JSON. */
  say: (s: string) => void;
}

type Opened = PassIo & { identity: TargetIdentity };

/**
 * A wipe, step by step: inspect and refuse → show the plan → confirm → open and prove identity →
 * the passes (checkpointing the report) → the report and the exit code.
 */
export async function runWipe(opts: WipeOptions, deps: WipeDeps): Promise<void> {
  const now = deps.now ?? (() => new Date());
  const resumed = opts.resume ? await loadReport(opts.resume) : null;
  const run: Run = {
    opts,
    deps,
    now,
    startedAt: now(),
    resumed,
    say: (s) => void (opts.json ? deps.io.stderr : deps.io.stdout).write(`${s}\n`),
  };
  const { prepared, signatures } = await inspect(run, targetsOf(run));
  await showPlans(run, prepared, signatures);
  if (opts.dryRun) {
    run.say('dry run: nothing written');
    return;
  }
  if (!opts.yes) await confirm(run, prepared);
  const opened = await openAll(run, prepared);
  if (!opts.yes) {
    // Minutes may have passed at the question: what was opened is the target that was checked
    // (openAll), and the checks run again on the system as it is now, before the first byte.
    try {
      await recheck(run, prepared);
    } catch (err) {
      await closeAll(opened);
      throw err;
    }
  }
  const { report, records } = await wipeAll(run, prepared, opened);
  finish(run, report, records);
}

/** The targets named, or with --resume and none named, the unfinished ones of the report. */
function targetsOf(run: Run): string[] {
  const { opts, resumed } = run;
  let targets = opts.targets;
  if (resumed && targets.length === 0) {
    targets = resumed.targets.filter((t) => resumePoint(t) !== null).map((t) => t.target);
    if (targets.length === 0)
      throw new UserError('E_RESUME', `${opts.resume ?? ''}: the report says every wipe in it is complete; nothing to resume`);
  }
  if (targets.length === 0) throw new UserError('E_USAGE', 'no target given (wipe TARGET..., or --list-methods)');
  return targets;
}

/** Inspects every target and what the system does with it; refuses (throws) before anything is opened. */
async function inspect(run: Run, targets: string[]): Promise<{ prepared: Prepared[]; signatures: Map<TargetInfo, Promise<Signatures[]>> }> {
  const { opts, resumed } = run;
  // Start-up is a fixed cost on every run: the independent reads and blkid run side by side.
  const inspected = Promise.all(targets.map((t) => inspectTarget(t)));
  const probed = inspected.then(
    (list) => new Map(list.filter((i) => i.kind === 'block' || i.kind === 'file').map((i) => [i, probeTargetSignatures(i)] as const)),
  );
  // Files are checked like devices: who else uses them (loop devices, writers), and whether their
  // file system overwrites in place.
  const fileChecks = inspected.then(async (list) => {
    const files = list.filter((i) => i.kind === 'file' && i.stat !== null);
    const [use, inPlace] = await Promise.all([
      fileUseOf(files),
      Promise.all(files.map(async (i) => [i, await inPlaceOf(i.resolved).catch(() => null)] as const)),
    ]);
    return { use, inPlace: new Map(inPlace) };
  });
  const [sys, infos, signatures, files] = await Promise.all([readSystemState(), inspected, probed, fileChecks]);
  const prepared: Prepared[] = [];
  const refusals: string[] = [];
  let firstCode = '';
  for (const info of infos) {
    const a = assessTarget(info, sys, useFor(info, files.use));
    const inPlace = info.kind === 'file' ? (files.inPlace.get(info) ?? null) : null;
    if (inPlace && !inPlace.guaranteed) a.warnings.push(`in-place overwrite not guaranteed: ${inPlace.why ?? inPlace.fsType}`);
    for (const r of a.refusals) {
      refusals.push(r.reason);
      firstCode ||= r.code;
    }
    if (a.refusals.length > 0) continue;
    const p = resumed ? resumedTarget(info, resumed, opts.resume ?? '', a.warnings) : newTarget(info, opts, a.warnings, run.startedAt);
    p.record.inPlace = inPlace;
    prepared.push(p);
  }
  refuseAll(run, refusals, firstCode, '');
  return { prepared, signatures };
}

/** Who else uses the targets that are files (loop devices, other processes), by `dev:ino`. */
function fileUseOf(infos: TargetInfo[]): Promise<Map<string, FileUse>> {
  return findFileUse(new Set(infos.flatMap((i) => (i.kind === 'file' && i.stat ? [fileId(i.stat)] : []))));
}

const useFor = (info: TargetInfo, use: Map<string, FileUse>): FileUse | undefined =>
  info.kind === 'file' && info.stat ? use.get(fileId(info.stat)) : undefined;

/** Each refusal on a line of its own, the last one thrown; nothing when there is none. */
function refuseAll(run: Run, refusals: string[], code: string, when: string): void {
  if (refusals.length === 0) return;
  for (const r of refusals.slice(0, -1)) run.deps.io.stderr.write(`wipe: ${oneLine(r)}\n`);
  throw new UserError(
    code,
    `${refusals[refusals.length - 1] ?? ''}${when}${refusals.length > 1 ? ` (${refusals.length} refusals; nothing written)` : ' (nothing written)'}`,
  );
}

/** The refusal checks once more, on the system as it is now (after the question). */
async function recheck(run: Run, prepared: Prepared[]): Promise<void> {
  const infos = await Promise.all(prepared.map((p) => inspectTarget(p.info.path)));
  const [sys, use] = await Promise.all([readSystemState(), fileUseOf(infos)]);
  const refusals: string[] = [];
  let firstCode = '';
  for (const info of infos) {
    for (const r of assessTarget(info, sys, useFor(info, use)).refusals) {
      refusals.push(r.reason);
      firstCode ||= r.code;
    }
  }
  refuseAll(run, refusals, firstCode, ', found after the confirmation');
}

function newTarget(info: TargetInfo, opts: WipeOptions, warnings: string[], startedAt: Date): Prepared {
  if (!opts.plan) throw new Error('no plan');
  const plan = opts.plan;
  const keys = plan.passes.map((p) => (p.source.kind === 'random' ? newStreamKey() : null));
  return { info, record: newRecord(info, plan, warnings, keys, startedAt), sources: plan.passes.map((p) => p.source), keys };
}

/** The target's record from the report being resumed, after checking that it is the same target. */
function resumedTarget(info: TargetInfo, resumed: WipeReport, file: string, warnings: string[]): Prepared {
  const old = resumed.targets.find((t) => t.target === info.path || t.resolved === info.resolved);
  if (!old) throw new UserError('E_RESUME', `${info.path} is not in the report ${file}`);
  if (old.sizeBytes !== info.sizeBytes || (old.serial ?? null) !== (info.block?.serial ?? null)) {
    throw new UserError(
      'E_RESUME',
      `${info.path} is not the target of the report (size or serial differ: ${old.sizeBytes} vs ${info.sizeBytes})`,
    );
  }
  if (!resumePoint(old)) throw new UserError('E_RESUME', `${info.path}: the report says this wipe is complete; nothing to resume`);
  const record: TargetRecord = { ...old, warnings, error: null, passes: old.passes.map((p) => ({ ...p, unwritten: unwrittenOf(p) })) };
  return { info, record, sources: old.passes.map(sourceFromRecord), keys: old.passes.map((p) => p.random) };
}

/** What is about to be destroyed, and how (with --dry-run, how long it would take). */
async function showPlans(run: Run, prepared: Prepared[], signatures: Map<TargetInfo, Promise<Signatures[]>>): Promise<void> {
  const { say, resumed, opts } = run;
  for (const p of prepared) {
    say(await describeTarget(p.info, p.record.warnings, signatures.get(p.info) ?? probeTargetSignatures(p.info)));
    const rp = resumePoint(p.record);
    say(`  plan: ${p.record.method}, ${p.record.passes.length} pass(es):`);
    for (const pass of p.record.passes) {
      say(
        `    pass ${pass.index}: ${pass.pattern === 'random' ? describeSource({ kind: 'random' }) : pass.pattern}${pass.verifyPlanned ? ', then verify' : ''}`,
      );
    }
    if (resumed && rp) say(`  resuming at pass ${rp.passIndex}, offset ${rp.offset}`);
    if (opts.dryRun) {
      const plan: WipePlan = {
        method: p.record.method,
        passes: p.record.passes.map((x) => ({ index: x.index, source: sourceFromRecord(x), verify: x.verifyPlanned })),
        verify: 'last',
      };
      const b = planBytes(plan, p.info.sizeBytes);
      say(
        `  would write ${b.write} bytes and read back ${b.verify}; estimated ${Math.ceil(estimateSeconds(p.info, plan))} s at an assumed ${p.info.block?.rotational ? '150' : '500'} MB/s`,
      );
    }
  }
}

/** The name of each target typed back; anything else stops the run with nothing written. */
async function confirm(run: Run, prepared: Prepared[]): Promise<void> {
  const { io, stdin, signal } = run.deps;
  const { ask, close } = lineReader(stdin, signal);
  try {
    for (const p of prepared) {
      const want = expectedAnswer(p.info);
      const answer = await ask(`Type '${want}' to destroy all data on ${p.info.resolved}: `, io.stderr);
      if (answer !== want && answer !== p.info.resolved) {
        throw new UserError(
          'E_NOT_CONFIRMED',
          `${p.info.path}: not confirmed (typed ${answer === null ? 'nothing' : `'${answer}'`}, expected '${want}'); nothing written`,
        );
      }
    }
  } finally {
    close();
  }
}

async function closeAll(opened: Opened[]): Promise<void> {
  for (const o of opened) {
    await o.fh.close();
    await o.direct?.close();
  }
}

/**
 * Opens every target, proving each is the one inspected, before the first byte is written: a
 * refusal from the kernel (EBUSY) or a changed target stops the run with nothing written.
 */
async function openAll(run: Run, prepared: Prepared[]): Promise<Opened[]> {
  const opened: Opened[] = [];
  try {
    for (const p of prepared) {
      const pio = await openForWrite(p.info, run.opts.writeMode === 'direct' || (run.opts.writeMode === 'auto' && p.info.kind === 'block'));
      opened.push(pio);
      if (p.info.kind === 'block') await checkBlockSize(pio.fh, p.info);
    }
  } catch (err) {
    await closeAll(opened);
    throw err;
  }
  return opened;
}

/**
 * The passes on every target at once, the --report file written before the first byte and
 * checkpointed as they go. One target that throws does not lose the others' records.
 */
async function wipeAll(run: Run, prepared: Prepared[], opened: Opened[]): Promise<{ report: WipeReport; records: TargetRecord[] }> {
  const { opts, deps, now, resumed, startedAt } = run;
  const { io } = deps;
  const host = os.hostname();
  const earlierRuns = resumed ? (resumed.runs ?? [{ startedAt: resumed.startedAt, endedAt: resumed.endedAt, host: resumed.host }]) : [];
  const records = prepared.map((p) => p.record);
  const buildReport = (): WipeReport => {
    const endedAt = now().toISOString();
    return {
      tool: 'wipe',
      version: deps.version,
      standard: 'NIST SP 800-88 Rev. 1',
      host,
      operator: io.env.SUDO_USER ?? io.env.USER ?? os.userInfo().username,
      startedAt: resumed?.startedAt ?? startedAt.toISOString(),
      endedAt,
      runs: [...earlierRuns, { startedAt: startedAt.toISOString(), endedAt, host }],
      // A resumed report keeps its targets that were already complete, in their order.
      targets: resumed ? resumed.targets.map((old) => records.find((r) => r.target === old.target) ?? old) : records,
    };
  };
  // The report exists, valid, before the first byte is written, and stays valid at every moment.
  const reportFile = opts.reportFile ? new ReportFile(opts.reportFile, buildReport) : null;
  if (reportFile) {
    for (const r of records) r.outcome = 'in-progress';
    try {
      await reportFile.write();
    } catch (err) {
      await closeAll(opened);
      throw new UserError(
        'E_REPORT',
        `cannot write the report ${reportFile.file}: ${errText(err as NodeJS.ErrnoException)}; nothing written`,
      );
    }
  }

  const settled = await Promise.allSettled(prepared.map((p, i) => wipeOne(p, opened[i] as Opened, opts, deps, now, reportFile)));
  settled.forEach((r, i) => {
    if (r.status === 'fulfilled') return;
    const rec = (prepared[i] as Prepared).record;
    rec.outcome = 'failed';
    rec.error = r.reason instanceof Error ? r.reason.message : String(r.reason);
    rec.verification = targetVerification(rec.passes);
    rec.coverage = coverageOf(rec.passes);
    rec.endedAt = now().toISOString();
  });
  const report = buildReport();
  if (reportFile) {
    await reportFile.settled();
    try {
      // the very report printed at the end, to the millisecond
      await reportFile.write(report);
    } catch (err) {
      io.stderr.write(
        `wipe: cannot write the report ${reportFile.file}: ${errText(err as NodeJS.ErrnoException)}; the last checkpoint in it may be older than this run\n`,
      );
      io.setExitCode(2);
    }
  }
  return { report, records };
}

/** Prints the report and one line per target that did not end wiped; sets the exit code. */
function finish(run: Run, report: WipeReport, records: TargetRecord[]): void {
  const { io } = run.deps;
  const { opts } = run;
  if (opts.json) writeJson(io.stdout, { event: 'report', report });
  else io.stdout.write(formatReport(report));

  for (const t of records) {
    if (t.outcome === 'verify-failed') {
      io.stderr.write(
        `wipe: ${t.target}: verification failed: ${t.passes.reduce((n, x) => n + (x.verify?.mismatchedBytes ?? 0), 0)} bytes differ\n`,
      );
      io.setExitCode(1);
    } else if (t.outcome === 'incomplete') {
      const c = t.coverage ?? coverageOf(t.passes);
      io.stderr.write(
        `wipe: ${t.target}: ${c.unwrittenBytes} bytes in ${c.ranges} range(s) could not be overwritten (first at byte ${c.firstUnwritten ?? 0}); the report lists them\n`,
      );
      io.setExitCode(3);
    } else if (t.outcome === 'in-place-not-guaranteed') {
      io.stderr.write(
        `wipe: ${t.target}: every byte was overwritten and read back, but in-place overwrite is not guaranteed: ${t.inPlace?.why ?? 'unknown file system'}\n`,
      );
      io.setExitCode(1);
    } else if (t.outcome === 'interrupted') {
      io.stderr.write(
        `wipe: ${t.target}: interrupted; ${opts.reportFile ? `continue with --resume ${opts.reportFile}` : 'rerun with --report FILE to be able to --resume'}\n`,
      );
      io.setExitCode(130);
    } else if (t.outcome === 'failed') {
      io.stderr.write(`wipe: ${t.target}: ${oneLine(t.error ?? 'failed')} (the report says which bytes were overwritten)\n`);
      io.setExitCode(2);
    }
  }
}

async function wipeOne(
  p: Prepared,
  pio: Opened,
  opts: WipeOptions,
  deps: WipeDeps,
  now: () => Date,
  checkpoint: ReportFile | null,
): Promise<TargetRecord> {
  /** A forced checkpoint: its failure is kept in checkpoint.failure and told at the end. */
  const saveNow = async (): Promise<void> => {
    await checkpoint?.write().catch(() => undefined);
  };
  const { record: rec, info } = p;
  const { io, signal } = deps;
  const size = info.sizeBytes;
  const label = info.block?.name ?? path.basename(info.resolved);
  const progressMode = opts.json ? 'json' : undefined;
  const progressStream = opts.json ? io.stdout : io.stderr;
  rec.writeMode = pio.direct ? 'O_DIRECT' : 'page cache';
  // Only a verification reads back; a run without one need not probe O_DIRECT reads.
  const probe = rec.passes.some((x) => x.verifyPlanned)
    ? await probeDirectRead(fdPath(pio.fh), pio.align, size)
    : { ok: false as const, reason: 'no verification planned' };
  const start = resumePoint(rec);
  let stopped = false;
  try {
    for (const pass of rec.passes) {
      if (!start || pass.index < start.passIndex) continue;
      const source = p.sources[pass.index - 1] as PassSource;
      const key = p.keys[pass.index - 1] ?? null;
      if (pass.status !== 'done') {
        const from = pass.index === start.passIndex ? Math.min(start.offset, size) : 0;
        // ranges an earlier run recorded below where this one starts; the rest is written again
        const earlier = rangesBelow(unwrittenOf(pass), from);
        pass.unwritten = earlier;
        const bar = createProgress({
          label: `${label} pass ${pass.index}/${rec.passes.length} ${pass.pattern}`,
          total: size,
          unit: 'bytes',
          stream: progressStream,
          mode: progressMode,
        });
        bar.update(from);
        const t0 = performance.now();
        pass.status = 'partial';
        const out = await writePass({
          io: pio,
          size,
          source,
          key,
          start: from,
          signal,
          onProgress: (d) => bar.update(d),
          onDurable: (d, unwritten) => {
            pass.bytesWritten = d;
            pass.unwritten = unwritten;
            checkpoint?.maybe();
          },
          continueOnError: opts.continueOnError ?? false,
          unwritten: earlier,
          chunk: opts.chunk,
        });
        bar.finish();
        const secs = (performance.now() - t0) / 1000 + pass.seconds;
        pass.bytesWritten = out.done;
        pass.unwritten = out.unwritten ?? earlier;
        pass.seconds = Math.round(secs * 1000) / 1000;
        pass.mbPerSecond = mbPerSecond(out.done, secs);
        if (out.error) {
          pass.status = out.done > 0 ? 'partial' : 'failed';
          rec.outcome = 'failed';
          rec.error = `pass ${pass.index} stopped at byte ${out.done} of ${size}: ${errText(out.error)}`;
          stopped = true;
          break;
        }
        if (out.interrupted) {
          pass.status = out.done > 0 ? 'partial' : 'not started';
          rec.outcome = 'interrupted';
          rec.error = `interrupted in pass ${pass.index} at byte ${out.done} of ${size}`;
          stopped = true;
          break;
        }
        pass.status = 'done';
        await saveNow();
      }
      if (pass.verifyPlanned && pass.verify?.result !== 'match') {
        const bar = createProgress({
          label: `${label} verify ${pass.index}/${rec.passes.length}`,
          total: size,
          unit: 'bytes',
          stream: progressStream,
          mode: progressMode,
        });
        const t0 = performance.now();
        const v = await verifyPass({
          path: fdPath(pio.fh),
          size,
          source,
          key,
          direct: probe.ok,
          signal,
          onProgress: (d) => bar.update(d),
          chunk: opts.chunk,
          skip: unwrittenOf(pass),
        });
        bar.finish();
        const secs = (performance.now() - t0) / 1000;
        pass.verify = {
          readMode: v.direct ? 'O_DIRECT' : 'page cache',
          readModeNote: probe.ok ? null : probe.reason,
          result: v.error ? 'error' : v.interrupted ? 'interrupted' : v.mismatchedBytes > 0 ? 'mismatch' : 'match',
          checkedBytes: v.checked - v.skipped,
          skippedBytes: v.skipped,
          mismatchedBytes: v.mismatchedBytes,
          firstMismatchOffsets: v.firstMismatches,
          seconds: Math.round(secs * 1000) / 1000,
          mbPerSecond: mbPerSecond(v.checked - v.skipped, secs),
          error: v.error ? errText(v.error) : null,
        };
        await saveNow();
        if (!probe.ok && !rec.warnings.includes(probe.reason)) {
          rec.warnings.push(`verification read through the page cache, not from the medium: ${probe.reason}`);
        }
        if (v.error) {
          rec.outcome = 'failed';
          rec.error = `verification of pass ${pass.index} failed at byte ${v.checked}: ${errText(v.error)}`;
          stopped = true;
          break;
        }
        if (v.interrupted) {
          rec.outcome = 'interrupted';
          rec.error = `interrupted while verifying pass ${pass.index}`;
          stopped = true;
          break;
        }
      }
    }
    rec.verification = targetVerification(rec.passes);
    rec.coverage = coverageOf(rec.passes);
    if (!stopped) {
      rec.outcome =
        rec.verification === 'failed'
          ? 'verify-failed'
          : rec.coverage.unwrittenBytes > 0
            ? 'incomplete'
            : rec.inPlace?.guaranteed === false
              ? 'in-place-not-guaranteed'
              : 'wiped';
      rec.error = null;
    }
    if (rec.outcome === 'wiped' && opts.remove && info.kind === 'file') {
      await pio.direct?.close();
      pio.direct = null;
      await removeVerified(pio.fh, info, pio.identity);
      rec.removed = true;
    }
  } finally {
    await pio.fh.close();
    await pio.direct?.close();
  }
  rec.endedAt = now().toISOString();
  return rec;
}
