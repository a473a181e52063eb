/** Runs the operator as its own process (as `npm start` does) against a cluster, for end-to-end tests. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
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

/** Node's arguments that run the operator from its sources (the default: no build needed). */
export const FROM_SOURCES = ['--import', './node_modules/tsx/dist/loader.mjs', 'src/main.ts'];
/** Node's arguments that run the bundle of `npm run build`, as the image does. */
export const BUNDLED = ['dist/operator.mjs'];

/** `npm run build`: dist/operator.mjs and dist/pgo.mjs, afresh from the sources. */
export function buildBundles(): void {
  execFileSync(process.execPath, ['hack/build.mjs'], { cwd: root, stdio: 'inherit' });
}

/** Starts the operator with `kubeconfigPath` (and extra `env`, and Node's arguments `args`); its output goes to `logFile`. */
export function startOperator(kubeconfigPath: string, logFile: string, env: Record<string, string> = {}, args = FROM_SOURCES): OperatorProcess {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, args, {
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
