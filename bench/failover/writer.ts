/** Starts the benchmark client (writer-main.ts) in a node's network namespace and collects its outcomes. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Where and as whom the writer connects. */
export interface WriterTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  table: string;
}

/** A running writer and what it has seen so far. */
export interface Writer {
  /** Acknowledged values with their acknowledgement time (epoch ms), in order. */
  acks: { v: number; t: number }[];
  /** Times (epoch ms) of failed attempts, in order. */
  errors: { t: number; code: string }[];
  /** Stops the writer and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts a writer inside network namespace `netns` (`pgo-nodeN`), connecting to `target`. */
export function startWriter(netns: string, target: WriterTarget): Writer {
  const child: ChildProcess = spawn('ip', ['netns', 'exec', netns, process.execPath, '--import', `${root}node_modules/tsx/dist/loader.mjs`, `${root}bench/failover/writer-main.ts`], {
    env: {
      ...process.env,
      PGHOST: target.host, PGPORT: String(target.port), PGUSER: target.user, PGPASSWORD: target.password,
      PGDATABASE: target.database, BENCH_TABLE: target.table,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const w: Writer = {
    acks: [],
    errors: [],
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const [kind, a, b] = line.split(' ');
    if (kind === 'a') w.acks.push({ v: Number(a), t: Number(b) });
    else if (kind === 'e') w.errors.push({ t: Number(a), code: b ?? '' });
  });
  return w;
}
