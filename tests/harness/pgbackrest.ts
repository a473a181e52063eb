/** Runs the Debian pgbackrest as the postgres user with a test suite's configuration file. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PASSWORD } from './pg.ts';

const run = promisify(execFile);

/** Runs pgbackrest with `--config=conf --stanza=stanza args...`; resolves to its exit code and output. */
export async function backrestResult(conf: string, args: string[], stanza = 'db'): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run('runuser', ['-u', 'postgres', '--', 'pgbackrest', `--config=${conf}`, `--stanza=${stanza}`, ...args], {
      env: { ...process.env, PGPASSWORD: PASSWORD },
      maxBuffer: 16 << 20,
    });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** Runs pgbackrest and returns its output; throws with the output when it fails. */
export async function backrest(conf: string, args: string[]): Promise<string> {
  const r = await backrestResult(conf, args);
  if (r.code !== 0) throw new Error(`pgbackrest ${args.join(' ')} exited with ${r.code}:\n${r.out}`);
  return r.out;
}
