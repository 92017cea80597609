/**
 * wipe inside a small VM (test/vm/run-vm.ts: a stock Debian kernel under qemu, software emulation)
 * on devices this machine's kernel cannot make: a disk held by device-mapper, an md raid1 member, an
 * NVMe disk, a disk unplugged mid-pass (QMP device_del) and a failing sector (dm error target), with
 * and without --continue-on-error. Each test boots one VM of its own (about 10–20 s); the disks are
 * image files here, so what the guest wrote is read back on this side after the VM has gone. `bash test/vm/prepare.sh` (root) installs
 * qemu and prepares the kernel and initramfs; without them these tests skip (fail in CI).
 * TOOLBOX_VM_DEBUG=1 streams each VM's console to stderr.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeNeeds } from '@toolbox/shared/testing';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { runVm, vmMissing, type RunVmOptions, type VmResult } from '../vm/run-vm.js';

const WIPE = fileURLToPath(new URL('../../apps/wipe/bin/wipe.js', import.meta.url));
const missing = vmMissing();
const MiB = 1 << 20;

let dir = '';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'wipe-vm-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Shell lines that run wipe in the guest, leaving NAME.out, NAME.err and NAME.rc in the share. */
const wipeIn = (name: string, args: string): string =>
  `"$NODE" "$WIPE" ${args} >"$SHARE/${name}.out" 2>"$SHARE/${name}.err"; echo $? >"$SHARE/${name}.rc"`;

/** Boots the VM; a scenario that failed before wipe ran fails the test with the console output. */
async function boot(options: RunVmOptions): Promise<VmResult> {
  const debug = process.env.TOOLBOX_VM_DEBUG ? (s: string): boolean => process.stderr.write(s) : undefined;
  const r = await runVm({ timeoutMs: 100_000, onOutput: debug, ...options, env: { NODE: process.execPath, WIPE, ...options.env } });
  expect(r.exitCode, `scenario failed; console:\n${r.output}`).toBe(0);
  return r;
}

/** The first offset in `buf` (from `from`) whose byte is not `byte`, or -1. */
function firstOther(buf: Buffer, byte: number, from = 0): number {
  for (let i = from; i < buf.length; i++) if (buf[i] !== byte) return i;
  return -1;
}

/** Whether some 4 KiB block of `buf` is all `byte` (what a wipe pass leaves). */
function hasBlockOf(buf: Buffer, byte: number): boolean {
  const want = Buffer.alloc(4096, byte);
  for (let off = 0; off + 4096 <= buf.length; off += 4096) if (buf.subarray(off, off + 4096).equals(want)) return true;
  return false;
}

/**
 * A 16 MiB disk (0xEE) whose 4 KiB at 8 MiB fail every read and write (a device-mapper error target
 * between two linear ones), wiped in the VM with `--yes --json --report $SHARE/report.json` and `extra`.
 */
function bootWithFailingSector(img: string, size: number, extra: string): Promise<VmResult> {
  return boot({
    disks: [
      { path: join(dir, 'vda.img'), sizeBytes: 8 * MiB, fill: 0x11 },
      { path: img, sizeBytes: size, fill: 0xee },
    ],
    script: `
printf '0 16384 linear /dev/vdb 0\\n16384 8 error\\n16392 16376 linear /dev/vdb 16392\\n' | DM_DISABLE_UDEV=1 dmsetup create --noudevsync flaky || exit 10
${wipeIn('wipe', `--yes --json ${extra} --report "$SHARE/report.json" /dev/dm-0`)}
dmsetup remove --noudevsync flaky || exit 11
`,
  });
}

describeNeeds(missing)('wipe in a VM (device-mapper, md, NVMe, a vanishing disk, a failing sector)', () => {
  it('refuses a disk held by a device-mapper target, names the holder, and writes nothing', async () => {
    const other = join(dir, 'vda.img');
    const held = join(dir, 'vdb.img');
    const r = await boot({
      disks: [
        { path: other, sizeBytes: 8 * MiB, fill: 0x11 },
        { path: held, sizeBytes: 16 * MiB, fill: 0xee },
      ],
      script: `
echo "0 $(cat /sys/class/block/vdb/size) linear /dev/vdb 0" | DM_DISABLE_UDEV=1 dmsetup create --noudevsync held || exit 10
ls /sys/class/block/vdb/holders >"$SHARE/holders"
${wipeIn('wipe', '--yes /dev/vdb')}
${wipeIn('json', '--yes --json /dev/vdb')}
dmsetup remove --noudevsync held || exit 11
`,
    });
    expect(r.files.holders?.trim()).toBe('dm-0');
    expect(r.files['wipe.rc']?.trim()).toBe('2');
    expect(r.files['wipe.err']).toBe('wipe: /dev/vdb is held by dm-0 (LVM, dm-crypt or md: deactivate it first) (nothing written)\n');
    expect(r.files['json.rc']?.trim()).toBe('2');
    expect(JSON.parse(r.files['json.out'] ?? '')).toMatchObject({ ok: false, error: { code: 'E_HELD' } });
    expect(firstOther(readFileSync(held), 0xee)).toBe(-1);
    expect(firstOther(readFileSync(other), 0x11)).toBe(-1);
  }, 120_000);

  it('refuses both members of an md raid1, names md0, and writes nothing of its own', async () => {
    const a = join(dir, 'vdb.img');
    const b = join(dir, 'vdc.img');
    const r = await boot({
      disks: [
        { path: join(dir, 'vda.img'), sizeBytes: 8 * MiB, fill: 0x11 },
        { path: a, sizeBytes: 32 * MiB, fill: 0xee },
        { path: b, sizeBytes: 32 * MiB, fill: 0xee },
      ],
      script: `
mdadm --create /dev/md0 --run --level=1 --raid-devices=2 --metadata=1.2 /dev/vdb /dev/vdc >"$SHARE/mdadm.log" 2>&1 || { cat "$SHARE/mdadm.log"; exit 10; }
ls /sys/class/block/vdb/holders >"$SHARE/holders-vdb"
ls /sys/class/block/vdc/holders >"$SHARE/holders-vdc"
mdadm --examine /dev/vdb >"$SHARE/examine" 2>&1
${wipeIn('vdb', '--yes /dev/vdb')}
${wipeIn('vdc', '--yes --json /dev/vdc')}
mdadm --wait /dev/md0 >/dev/null 2>&1
mdadm --stop /dev/md0 >>"$SHARE/mdadm.log" 2>&1 || exit 11
`,
    });
    expect(r.files['holders-vdb']?.trim()).toBe('md0');
    expect(r.files['holders-vdc']?.trim()).toBe('md0');
    expect(r.files['vdb.rc']?.trim()).toBe('2');
    expect(r.files['vdb.err']).toBe('wipe: /dev/vdb is held by md0 (LVM, dm-crypt or md: deactivate it first) (nothing written)\n');
    expect(r.files['vdc.rc']?.trim()).toBe('2');
    expect(JSON.parse(r.files['vdc.out'] ?? '')).toMatchObject({
      ok: false,
      error: { code: 'E_HELD', message: expect.stringContaining('/dev/vdc is held by md0') },
    });
    // mdadm wrote its superblock before the data area; raid1 resync copied 0xEE onto 0xEE; wipe wrote nothing
    const dataOffset = Number(/Data Offset : (\d+) sectors/.exec(r.files.examine ?? '')?.[1]) * 512;
    expect(dataOffset).toBeGreaterThan(0);
    for (const img of [a, b]) {
      const bytes = readFileSync(img);
      expect(firstOther(bytes, 0xee, dataOffset)).toBe(-1);
      expect(hasBlockOf(bytes, 0x55)).toBe(false);
      expect(hasBlockOf(bytes, 0xaa)).toBe(false);
    }
  }, 120_000);

  it('wipes an NVMe disk: model and serial from sysfs in the report, the flash warning, every byte 0xAA', async () => {
    const img = join(dir, 'nvme.img');
    const size = 16 * MiB;
    const r = await boot({
      disks: [{ path: img, sizeBytes: size, fill: 0xee, bus: 'nvme', serial: 'TESTSERIAL1' }],
      script: `
[ -b /dev/nvme0n1 ] || { ls /sys/class/block; exit 10; }
cat /sys/class/block/nvme0n1/device/model >"$SHARE/model"
${wipeIn('wipe', '--yes --json /dev/nvme0n1')}
`,
    });
    expect(r.files['wipe.rc']?.trim()).toBe('0');
    // with --json the description goes to stderr: the disk as sysfs shows it, and the flash warning
    const err = r.files['wipe.err'] ?? '';
    expect(err).toContain('/dev/nvme0n1: block device, 16777216 bytes (16.0 MiB)\n');
    expect(err).toMatch(/^ {2}model QEMU NVMe Ctrl, serial TESTSERIAL1$/m);
    expect(err).toContain('  warning: /dev/nvme0n1 is not rotational (flash): overwriting is NIST SP 800-88 "Clear", not "Purge"');
    const last = JSON.parse(r.files['wipe.out']?.trim().split('\n').at(-1) ?? '{}') as {
      event: string;
      report: {
        targets: {
          model: string | null;
          serial: string | null;
          rotational: boolean | null;
          sizeBytes: number;
          outcome: string;
          warnings: string[];
        }[];
      };
    };
    expect(last.event).toBe('report');
    const model = r.files.model?.trim();
    expect(model).toMatch(/QEMU NVMe/);
    const t = last.report.targets[0];
    expect(t).toMatchObject({ model, serial: 'TESTSERIAL1', rotational: false, sizeBytes: size, outcome: 'wiped' });
    expect(
      t?.warnings.some((w) => w.startsWith('/dev/nvme0n1 is not rotational (flash): overwriting is NIST SP 800-88 "Clear", not "Purge"')),
    ).toBe(true);
    expect(firstOther(readFileSync(img), 0xaa)).toBe(-1);
  }, 120_000);
  it('a disk that vanishes in the middle of a pass (QMP device_del): wipe fails, says where, and the report matches the disk', async () => {
    const img = join(dir, 'vdb.img');
    const size = 96 * MiB;
    const r = await boot({
      disks: [
        { path: join(dir, 'vda.img'), sizeBytes: 8 * MiB, fill: 0x11 },
        // throttled (about 3 s for the pass), so that the pass is still writing when the guest lets the disk go
        { path: img, sizeBytes: size, fill: 0xee, id: 'victim', throttleBytesPerSecond: 32 * MiB },
      ],
      script: `
{ "$NODE" "$WIPE" --yes --json --pattern 0xAA --report "$SHARE/report.json" /dev/vdb 2>"$SHARE/wipe.err"; echo $? >"$SHARE/wipe.rc"; } | tee "$SHARE/wipe.out"
ls /sys/class/block >"$SHARE/after"
`,
      during: async (vm) => {
        // the first progress with bytes done (about 1 s in); the guest lets go once the writes in flight are done
        await vm.waitForOutput(/"label":"vdb pass 1\/1 0xAA","done":[1-9]/);
        await vm.deviceDel('victim');
      },
    });
    const why = `wipe's output:\n${r.files['wipe.out'] ?? ''}\n${r.files['wipe.err'] ?? ''}`;
    expect(r.files.after?.split('\n'), why).not.toContain('vdb');
    expect(r.files['wipe.rc']?.trim(), why).toBe('2');
    const stopped =
      /^wipe: \/dev\/vdb: pass 1 stopped at byte (\d+) of 100663296: ([A-Z]+) .*\(the report says which bytes were overwritten\)$/m.exec(
        r.files['wipe.err'] ?? '',
      );
    expect(stopped, why).not.toBeNull();
    const at = Number(stopped?.[1]);
    expect(at, why).toBeGreaterThan(0);
    expect(at, why).toBeLessThan(size);
    const report = JSON.parse(r.files['report.json'] ?? '{}') as {
      targets: { outcome: string; error: string; passes: { status: string; bytesWritten: number }[] }[];
    };
    const t = report.targets[0];
    expect(t?.outcome).toBe('failed');
    expect(t?.passes[0]).toMatchObject({ status: 'partial', bytesWritten: at });
    // what the report claims: the pattern up to that byte; after it the old bytes, or writes that were in flight
    const bytes = readFileSync(img);
    expect(firstOther(bytes.subarray(0, at), 0xaa)).toBe(-1);
    expect(bytes.subarray(at).every((b) => b === 0xee || b === 0xaa)).toBe(true);
    expect(bytes.at(-1)).toBe(0xee);
  }, 120_000);

  it('a device with a failing sector (device-mapper error target): wipe stops there with EIO, and the report says how far it got', async () => {
    const img = join(dir, 'vdb.img');
    const size = 16 * MiB;
    const bad = 8 * MiB; // 4 KiB that fail every read and write, in the middle
    const r = await bootWithFailingSector(img, size, '');
    expect(r.files['wipe.rc']?.trim()).toBe('2');
    expect(r.files['wipe.err']).toContain(
      'wipe: /dev/dm-0: pass 1 stopped at byte 8388608 of 16777216: EIO I/O error (the device failed or disappeared) (the report says which bytes were overwritten)\n',
    );
    const report = JSON.parse(r.files['report.json'] ?? '{}') as {
      targets: { outcome: string; passes: { status: string; bytesWritten: number }[] }[];
    };
    const t = report.targets[0];
    expect(t?.outcome).toBe('failed');
    expect(t?.passes[0]).toMatchObject({ status: 'partial', bytesWritten: bad });
    expect(t?.passes[1]).toMatchObject({ status: 'not started', bytesWritten: 0 });
    // pass 1 up to the bad sector; the bad sector itself never reached the disk; after it, old bytes or in-flight writes
    const bytes = readFileSync(img);
    expect(firstOther(bytes.subarray(0, bad), 0x55)).toBe(-1);
    expect(firstOther(bytes.subarray(bad, bad + 4096), 0xee)).toBe(-1);
    expect(bytes.subarray(bad + 4096).every((b) => b === 0x55 || b === 0xee)).toBe(true);
  }, 120_000);

  it('--continue-on-error writes around the failing sector (dm error target): exit 3, the report lists exactly that range, every other byte is 0xAA', async () => {
    const img = join(dir, 'vdb.img');
    const size = 16 * MiB;
    const bad = 8 * MiB; // 8 sectors (4 KiB) that fail every read and write, in the middle
    const r = await bootWithFailingSector(img, size, '--continue-on-error');
    const why = `wipe's stderr:\n${r.files['wipe.err'] ?? ''}`;
    expect(r.files['wipe.rc']?.trim(), why).toBe('3');
    expect(r.files['wipe.err'], why).toContain(
      'wipe: /dev/dm-0: 4096 bytes in 1 range(s) could not be overwritten (first at byte 8388608); the report lists them\n',
    );
    type Report = {
      targets: {
        outcome: string;
        error: string | null;
        verification: string;
        coverage: unknown;
        passes: {
          pattern: string;
          status: string;
          bytesWritten: number;
          unwritten: [number, number][];
          verify: { result: string; checkedBytes: number; skippedBytes: number } | null;
        }[];
      }[];
    };
    const report = JSON.parse(r.files['report.json'] ?? '{}') as Report;
    const t = report.targets[0];
    expect(t).toMatchObject({ outcome: 'incomplete', error: null, verification: 'passed' });
    expect(t?.coverage).toEqual({ unwrittenBytes: 4096, ranges: 1, firstUnwritten: bad, neverOverwrittenBytes: 4096 });
    expect(t?.passes.map((p) => [p.pattern, p.status, p.bytesWritten, p.unwritten])).toEqual([
      ['0x55', 'done', size, [[bad, bad + 4096]]],
      ['0xAA', 'done', size, [[bad, bad + 4096]]],
    ]);
    // verification read everything but the failing sector, and found it all 0xAA
    expect(t?.passes[1]?.verify).toMatchObject({ result: 'match', checkedBytes: size - 4096, skippedBytes: 4096 });
    // the --json report is the one in the file
    const last = JSON.parse(r.files['wipe.out']?.trim().split('\n').at(-1) ?? '{}') as { event: string; report: Report };
    expect(last).toEqual({ event: 'report', report });
    // on the disk: the last pass everywhere, except the sector the device refused, which still holds the old bytes
    const bytes = readFileSync(img);
    expect(firstOther(bytes.subarray(0, bad), 0xaa)).toBe(-1);
    expect(firstOther(bytes.subarray(bad, bad + 4096), 0xee)).toBe(-1);
    expect(firstOther(bytes.subarray(bad + 4096), 0xaa)).toBe(-1);
  }, 120_000);
});
