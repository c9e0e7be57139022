// Test helpers for the agent: run the real CLI on port 0 and talk to it with node:http.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/agent/). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** node_exporter's fixture trees and expected outputs; origin in its README.md. */
export const NE = `${ROOT}test/fixtures/node_exporter/`;
export const CLI = `${ROOT}dist/src/cli.js`;

export interface AgentProcess {
  child: ChildProcess;
  address: string;
  stderr: () => string;
  /** SIGTERM, then the exit code. */
  stop: () => Promise<number | null>;
}

/** Starts `pillion agent <args> --web.listen-address=127.0.0.1:0` and waits for its "Listening on" line. */
export function startAgentProcess(args: string[]): Promise<AgentProcess> {
  const child = spawn(process.execPath, [CLI, 'agent', ...args, '--web.listen-address=127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`agent did not start:\n${err}`)); }, 10_000);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      err += chunk;
      const m = /msg="Listening on" address=(\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({
          child,
          address: m[1]!,
          stderr: () => err,
          stop: () => { child.kill('SIGTERM'); return exited; },
        });
      }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`agent exited with ${code} before listening:\n${err}`)); });
  });
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function httpGet(address: string, path: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Runs the shared prom-compare tool; returns its exit code and report. */
export function promCompare(expectedPath: string, actualPath: string, extra: string[] = []): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [`${ROOT}test/helpers/prom-compare.mjs`, expectedPath, actualPath, ...extra], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

/** Family names declared by `# TYPE` lines. */
export function familiesOf(text: string): string[] {
  return [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
}

/** `promtool check metrics` findings, or undefined when promtool is not installed. */
export function promtoolFindings(text: string): { code: number | null; findings: string[] } | undefined {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) return undefined;
  const findings = (r.stdout + r.stderr).split('\n').map((l) => l.trim()).filter(Boolean);
  return { code: r.status, findings };
}
