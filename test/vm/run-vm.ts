/**
 * Boots one small VM (stock Debian kernel, busybox initramfs from test/vm/prepare.sh, TCG) with the
 * given raw disks, runs a shell scenario inside `chroot` of this machine's / (read-only over 9p, so
 * the host's node and the built project run unchanged), and returns its exit code, the serial console
 * text and the files the scenario left in the share. A QMP socket lets `during` remove a disk while
 * the scenario runs. One VM at a time: TCG takes a whole core.
 *
 * Inside the guest: `SHARE=/tmp/share` (read-write, this run's share directory on the host), /tmp and
 * /run are the guest's own tmpfs, `/tmp/vm/bin` (first on PATH) has dmsetup, mdadm, insmod, rmmod,
 * lsmod and blockdev; `/tmp/vm/modules/*.ko` are the modules (scsi_debug's in modules.extra order,
 * not loaded). Virtio disks are /dev/vda, vdb… in the order given; an NVMe disk is /dev/nvme0n1…
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where prepare.sh left the kernel and initramfs. */
export const VM_DIR = process.env.TOOLBOX_VM_DIR ?? fileURLToPath(new URL('../../.vm', import.meta.url));
export const PREPARE = fileURLToPath(new URL('./prepare.sh', import.meta.url));

export interface VmInfo {
  kernelPackage: string;
  kernelVersion: string;
  kernel: string;
  initrd: string;
  modules: string;
  /** Whether the kernel has the nvme driver (loaded at boot). */
  nvme: boolean;
  qemu: string;
}

export function vmInfo(dir = VM_DIR): VmInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(join(dir, 'vm.json'), 'utf8')) as VmInfo;
    return existsSync(info.kernel) && existsSync(info.initrd) ? info : undefined;
  } catch {
    return undefined;
  }
}

/** What keeps a VM from booting here, or undefined. */
export function vmMissing(dir = VM_DIR): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return 'an x86_64 Linux machine';
  if (spawnSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' }).status !== 0) {
    return `qemu-system-x86_64 not installed (run: bash ${PREPARE})`;
  }
  if (!vmInfo(dir)) return `no VM kernel and initramfs in ${dir} (run: bash ${PREPARE})`;
  return undefined;
}

export interface VmDisk {
  /** Raw image on the host. Created when missing and `sizeBytes` is given (sparse, or filled with `fill`). */
  path: string;
  sizeBytes?: number;
  fill?: number;
  /** 'virtio' (default): /dev/vdX, in the order given; 'nvme': an emulated NVMe controller and namespace. */
  bus?: 'virtio' | 'nvme';
  /** The disk's serial number as the guest sees it (virtio: /sys/block/vdX/serial; NVMe: device/serial). */
  serial?: string;
  /** The qemu device id, for `device_del` (default disk0, disk1…). */
  id?: string;
  /** A slow disk: qemu throttles reads and writes together to this many bytes a second. */
  throttleBytesPerSecond?: number;
}

/** Creates a raw image: sparse (all zeros) without `fill`, else every byte `fill`. */
export function makeDiskImage(path: string, sizeBytes: number, fill?: number): void {
  const fd = openSync(path, 'w');
  try {
    if (fill === undefined) {
      ftruncateSync(fd, sizeBytes);
    } else {
      const chunk = Buffer.alloc(Math.min(sizeBytes, 1 << 20), fill);
      for (let off = 0; off < sizeBytes; off += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, sizeBytes - off), off);
    }
  } finally {
    closeSync(fd);
  }
}

export interface VmControl {
  /** Sends one QMP command and resolves with its `return` (rejects with its `error`). */
  qmp(execute: string, args?: Record<string, unknown>): Promise<unknown>;
  /**
   * `device_del` the disk with this id (the guest gets a hot-unplug request, finishes the I/O in flight
   * and drops the disk); resolves once qemu reports DEVICE_DELETED, or the VM has ended.
   */
  deviceDel(id: string, timeoutMs?: number): Promise<void>;
  /** Resolves when the console output so far matches. */
  waitForOutput(pattern: RegExp | string, timeoutMs?: number): Promise<void>;
  /** The console output so far. */
  output(): string;
}

export interface RunVmOptions {
  /** The scenario: a POSIX sh script run as root in the guest (cwd /tmp). Its exit code is the result. */
  script: string;
  disks?: VmDisk[];
  /** Exported to the scenario. */
  env?: Record<string, string>;
  /** Kills the VM after this long and rejects (default 90 s). */
  timeoutMs?: number;
  /** Runs alongside the scenario, e.g. to remove a disk once the console shows a marker. */
  during?: (vm: VmControl) => Promise<void>;
  /** Every chunk of console output as it comes (for debugging: `(s) => process.stderr.write(s)`). */
  onOutput?: (chunk: string) => void;
  memoryMiB?: number;
  vmDir?: string;
  /** Keep the work directory (share, QMP socket) instead of removing it. */
  keep?: boolean;
}

export interface VmResult {
  exitCode: number;
  /** Serial console text (kernel messages at error level, /init's `vm:` lines, the scenario's output). */
  output: string;
  /** Every file the scenario left in $SHARE, by path relative to it, as UTF-8. */
  files: Record<string, string>;
  /** Seconds from starting qemu to the scenario's start, and to qemu's exit. */
  bootSeconds: number;
  totalSeconds: number;
  /** Where the share was (removed afterwards unless `keep`). */
  shareDir: string;
}

const shQuote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;

function readTree(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) files[relative(dir, p)] = readFileSync(p, 'utf8');
    }
  };
  walk(dir);
  return files;
}

/** A minimal QMP client: one command at a time, matched by id; events are kept. */
class Qmp {
  private buffered = '';
  private nextId = 1;
  private readonly pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly events: { event: string; data?: Record<string, unknown> }[] = [];
  private readonly eventWaiters: (() => void)[] = [];
  /** qemu has gone (the connection closed). */
  closed = false;

  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buffered += d;
      let nl;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, nl).trim();
        this.buffered = this.buffered.slice(nl + 1);
        if (line) this.onMessage(JSON.parse(line) as Record<string, unknown>);
      }
    });
    sock.on('close', () => {
      this.closed = true;
      for (const p of this.pending.values()) p.reject(new Error('QMP connection closed'));
      this.pending.clear();
      for (const w of this.eventWaiters.splice(0)) w();
    });
    sock.on('error', () => undefined);
  }

  static async connect(path: string, timeoutMs: number): Promise<Qmp> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const sock = await new Promise<Socket>((resolve, reject) => {
          const s = createConnection(path, () => resolve(s));
          s.once('error', reject);
        });
        const qmp = new Qmp(sock);
        await qmp.execute('qmp_capabilities');
        return qmp;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`cannot connect to QMP at ${path}: ${String(err)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private onMessage(m: Record<string, unknown>): void {
    if (typeof m.event === 'string') {
      this.events.push(m as { event: string; data?: Record<string, unknown> });
      for (const w of this.eventWaiters.splice(0)) w();
      return;
    }
    if (m.QMP) return; // greeting
    const p = this.pending.get(String(m.id));
    if (!p) return;
    this.pending.delete(String(m.id));
    if (m.error) p.reject(new Error(`QMP error: ${JSON.stringify(m.error)}`));
    else p.resolve(m.return);
  }

  execute(cmd: string, args?: Record<string, unknown>): Promise<unknown> {
    const id = String(this.nextId++);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.sock.write(`${JSON.stringify({ execute: cmd, ...(args ? { arguments: args } : {}), id })}\n`);
    });
  }

  /** Resolves true once an event matches, false if qemu goes first; rejects after timeoutMs. */
  async waitForEvent(match: (e: { event: string; data?: Record<string, unknown> }) => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.events.some(match)) {
      if (this.closed) return false;
      if (Date.now() > deadline) throw new Error(`timed out waiting for a QMP event; events so far: ${JSON.stringify(this.events)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        this.eventWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return true;
  }

  close(): void {
    this.sock.destroy();
  }
}

export async function runVm(options: RunVmOptions): Promise<VmResult> {
  const vmDir = options.vmDir ?? VM_DIR;
  const info = vmInfo(vmDir);
  if (!info) throw new Error(`no VM kernel and initramfs in ${vmDir} (run: bash ${PREPARE})`);
  const timeoutMs = options.timeoutMs ?? 90_000;
  // the disks first: a bad one throws before anything is made
  const diskArgs: string[] = [];
  (options.disks ?? []).forEach((d, i) => {
    const id = d.id ?? `disk${i}`;
    if (/[,=]/.test(d.path) || /[^A-Za-z0-9_.-]/.test(id) || (d.serial && /[^A-Za-z0-9_.-]/.test(d.serial))) {
      throw new Error(`disk ${i}: path, id and serial must not contain ',' or '=' (qemu option syntax)`);
    }
    if (!existsSync(d.path)) {
      if (d.sizeBytes === undefined) throw new Error(`disk image ${d.path} does not exist and no sizeBytes was given`);
      makeDiskImage(d.path, d.sizeBytes, d.fill);
    }
    const throttle = d.throttleBytesPerSecond ? `,throttling.bps-total=${Math.round(d.throttleBytesPerSecond)}` : '';
    diskArgs.push('-drive', `file=${d.path},if=none,id=${id}-drive,format=raw,cache=unsafe${throttle}`);
    const serial = d.serial ? `,serial=${d.serial}` : d.bus === 'nvme' ? `,serial=${id}` : '';
    diskArgs.push('-device', `${d.bus === 'nvme' ? 'nvme' : 'virtio-blk-pci'},drive=${id}-drive,id=${id}${serial}`);
  });
  const work = mkdtempSync(join(tmpdir(), 'toolbox-vm-'));
  const share = join(work, 'share');
  const qmpPath = join(work, 'qmp.sock');
  mkdirSync(share);
  const exports = Object.entries(options.env ?? {})
    .map(([k, v]) => `export ${k}=${shQuote(v)}\n`)
    .join('');
  writeFileSync(join(share, 'scenario.sh'), `${exports}${options.script}\n`);

  const args = [
    '-accel',
    'tcg',
    '-m',
    String(options.memoryMiB ?? 1024),
    '-smp',
    '1',
    '-nodefaults',
    '-no-user-config',
    '-nic',
    'none',
    '-display',
    'none',
    '-serial',
    'stdio',
    '-no-reboot',
    '-kernel',
    info.kernel,
    '-initrd',
    info.initrd,
    '-append',
    'console=ttyS0 panic=-1 quiet',
    '-virtfs',
    'local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap',
    '-virtfs',
    `local,path=${share},mount_tag=share,security_model=none`,
    '-qmp',
    `unix:${qmpPath},server=on,wait=off`,
  ];
  args.push(...diskArgs);

  const started = Date.now();
  let output = '';
  let bootSeconds = NaN;
  const outputWaiters: (() => void)[] = [];
  const qemu = spawn(info.qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let qemuErr = '';
  qemu.stderr.setEncoding('utf8');
  qemu.stderr.on('data', (d: string) => (qemuErr += d));
  qemu.stdout.setEncoding('utf8');
  qemu.stdout.on('data', (d: string) => {
    const chunk = d.replaceAll('\r\n', '\n');
    output += chunk;
    if (Number.isNaN(bootSeconds) && output.includes('vm: scenario start')) bootSeconds = (Date.now() - started) / 1000;
    options.onOutput?.(chunk);
    for (const w of outputWaiters.splice(0)) w();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    qemu.on('close', (code, signal) => resolve({ code, signal }));
  });
  const spawnError = new Promise<Error>((resolve) => qemu.on('error', resolve));

  let qmp: Qmp | undefined;
  let done = false;
  const getQmp = async (): Promise<Qmp> => (qmp ??= await Qmp.connect(qmpPath, 10_000));
  const control: VmControl = {
    qmp: async (cmd, a) => (await getQmp()).execute(cmd, a),
    deviceDel: async (id, t = 30_000) => {
      const q = await getQmp();
      await q.execute('device_del', { id });
      // qemu 7.2 reports the device's backend, then the device; either means the guest let go
      const path = `/machine/peripheral/${id}`;
      await q.waitForEvent((e) => e.event === 'DEVICE_DELETED' && (e.data?.device === id || String(e.data?.path).startsWith(path)), t);
    },
    waitForOutput: async (pattern, t = timeoutMs) => {
      const deadline = Date.now() + t;
      const hit = (): boolean => (typeof pattern === 'string' ? output.includes(pattern) : pattern.test(output));
      while (!hit()) {
        if (done) throw new Error(`the VM ended before its output showed ${String(pattern)}; console output ends:\n${output.slice(-3000)}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${String(pattern)} in the VM's output`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 250);
          outputWaiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
    output: () => output,
  };

  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  let duringError: unknown;
  const during = options.during
    ? options.during(control).catch((err: unknown) => {
        duringError = err;
        qemu.kill('SIGKILL');
      })
    : Promise.resolve();

  try {
    const first = await Promise.race([exited, timedOut, spawnError]);
    if (first instanceof Error) throw new Error(`cannot start ${info.qemu}: ${first.message}`);
    if (first === 'timeout') {
      qemu.kill('SIGKILL');
      await exited;
      throw new Error(
        `VM did not finish within ${timeoutMs / 1000} s (killed); console output ends:\n${output.slice(-3000)}${qemuErr ? `\nqemu: ${qemuErr.trim()}` : ''}`,
      );
    }
    done = true;
    for (const w of outputWaiters.splice(0)) w();
    await during;
    if (duringError !== undefined) {
      const e =
        duringError instanceof Error ? duringError : new Error(typeof duringError === 'string' ? duringError : JSON.stringify(duringError));
      if (!e.message.includes('console output ends')) e.message += `; console output ends:\n${output.slice(-3000)}`;
      throw e;
    }
    const totalSeconds = (Date.now() - started) / 1000;
    const files = readTree(share);
    const rc = files['exit-code'];
    if (rc === undefined) {
      throw new Error(
        `VM ended (qemu exit ${first.code ?? first.signal}) without the scenario's exit code; console output ends:\n${output.slice(-3000)}${qemuErr ? `\nqemu: ${qemuErr.trim()}` : ''}`,
      );
    }
    delete files['exit-code'];
    delete files['scenario.sh'];
    return { exitCode: Number(rc.trim()), output, files, bootSeconds, totalSeconds, shareDir: share };
  } finally {
    done = true;
    clearTimeout(timer);
    qmp?.close();
    if (qemu.exitCode === null && qemu.signalCode === null) qemu.kill('SIGKILL');
    if (!options.keep) rmSync(work, { recursive: true, force: true });
  }
}
