/**
 * Child processes of test harnesses: started with their output in a log file, recorded by PID in
 * the harness directory, and stopped by PID (SIGTERM, then SIGKILL). A harness directory whose
 * owner died is cleaned up by the next run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Root of all harness directories. */
export const harnessRoot = join(tmpdir(), 'pg-operator-harness');

/** True when a process with this PID exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Sends SIGTERM, waits up to `graceMs`, then SIGKILL. */
export async function stopPid(pid: number, graceMs = 5000): Promise<void> {
  if (!alive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Stops the processes of harness directories whose owning test process has exited, and removes them. */
export async function reapStale(): Promise<void> {
  if (!existsSync(harnessRoot)) return;
  for (const name of readdirSync(harnessRoot)) {
    const dir = join(harnessRoot, name);
    const owner = Number(readFileSafe(join(dir, 'owner')));
    if (owner && alive(owner)) continue;
    for (const line of readFileSafe(join(dir, 'pids')).split('\n').filter(Boolean)) await stopPid(Number(line), 1000);
    rmSync(dir, { recursive: true, force: true });
  }
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** A fresh directory owned by this process. */
export function makeHarnessDir(prefix: string): string {
  mkdirSync(harnessRoot, { recursive: true });
  const dir = join(harnessRoot, `${prefix}-${process.pid}-${Date.now().toString(36)}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'owner'), String(process.pid));
  return dir;
}

/** Starts `cmd` with stdout and stderr appended to `<dir>/<name>.log`, recording its PID. */
export function startLogged(dir: string, name: string, cmd: string, args: string[]): ChildProcess {
  const log = openSync(join(dir, `${name}.log`), 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', log, log] });
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  appendFileSync(join(dir, 'pids'), `${child.pid}\n`);
  return child;
}

/** The last lines of a harness log, for error messages. */
export function tail(dir: string, name: string, lines = 20): string {
  return readFileSafe(join(dir, `${name}.log`)).trimEnd().split('\n').slice(-lines).join('\n');
}
