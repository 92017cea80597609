/**
 * Runs a built tool the way a user does — `node apps/<tool>/bin/<tool>.js ARGS`, no shell — and
 * returns its exit code and output. A run that did not end by itself (killed by the timeout or a
 * signal) rejects: that is a hang or a crash, never an exit code to assert on.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export type Tool = 'dnslog' | 'wipe' | 'mx-check' | 'relay-audit';

export interface ToolRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ToolRunOptions {
  timeoutMs?: number;
  /** Added to (or, with undefined, removed from) this process's environment. */
  env?: Record<string, string | undefined>;
}

export function toolBin(tool: Tool): string {
  return fileURLToPath(new URL(`../../apps/${tool}/bin/${tool}.js`, import.meta.url));
}

export function runTool(tool: Tool, args: readonly string[], options: ToolRunOptions = {}): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [toolBin(tool), ...args],
      { timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ...options.env } },
      (err, stdout, stderr) => {
        if (err === null) return resolve({ code: 0, stdout, stderr });
        const code = (err as { code?: unknown }).code;
        if (typeof code !== 'number')
          return reject(new Error(`${tool} ${args.join(' ')}: did not exit by itself (${err.message}); stderr: ${stderr}`));
        resolve({ code, stdout, stderr });
      },
    );
  });
}
