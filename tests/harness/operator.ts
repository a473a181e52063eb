/** Runs the operator as its own process (as `npm start` does) against a cluster, for end-to-end tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** A running operator process. */
export interface OperatorProcess {
  child: ChildProcess;
  /** Kills it with `signal` and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts the operator with `kubeconfigPath` (and extra `env`); its output goes to `logFile`. */
export function startOperator(kubeconfigPath: string, logFile: string, env: Record<string, string> = {}): OperatorProcess {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, ['--import', './node_modules/tsx/dist/loader.mjs', 'src/main.ts'], {
    cwd: root,
    env: { ...process.env, KUBECONFIG: kubeconfigPath, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  return {
    child,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      await Promise.race([exited, sleep(10_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
