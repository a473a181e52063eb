/** The benchmark's one table: target × fault → median RTO, min/max, lost acknowledged commits. */
import { median } from '../lib.ts';
import { PHASES, type Phases } from './phases.ts';
import type { RunResult } from './run.ts';

/** One row of results. */
export interface Row {
  target: string;
  fault: string;
  runs: RunResult[];
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Formats the rows as an aligned text table (a Markdown table, so it can be pasted as is). */
export function formatTable(rows: Row[]): string {
  const header = ['target', 'fault', 'recovered', 'median RTO', 'min', 'max', 'lost acked commits (per run)'];
  const body = rows.map(({ target, fault, runs: all }) => {
    const runs = all.filter((r) => !r.error);
    if (!runs.length) return [target, fault, `${all.length} failed before the fault`, '-', '-', '-', '-'];
    const rtos = runs.flatMap((r) => (r.rtoMs === undefined ? [] : [r.rtoMs]));
    const lost = runs.map((r) => (r.lost === undefined ? '?' : String(r.lost))).join(', ');
    if (!rtos.length) return [target, fault, `0/${runs.length}`, 'no recovery', '-', '-', lost];
    return [target, fault, `${rtos.length}/${runs.length}`, s(median(rtos)), s(Math.min(...rtos)), s(Math.max(...rtos)), lost];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

/** One run's phases on one line: `detection 1.20 s, delay 1.80 s, ...`. */
export function formatPhases(phases: Phases | undefined): string {
  const known = PHASES.filter((p) => phases?.[p] !== undefined);
  return known.length ? known.map((p) => `${p} ${(phases![p]! / 1000).toFixed(2)} s`).join(', ') : 'no failover steps recorded';
}

/**
 * Where the time went, per target and fault: the median (and max) of each phase over the runs that
 * recorded it, in seconds; `n` is how many runs recorded a failover.
 */
export function formatPhaseTable(rows: Row[]): string {
  const header = ['target', 'fault', 'n', ...PHASES];
  const body = rows.flatMap(({ target, fault, runs }) => {
    const recorded = runs.filter((r) => r.phases && Object.keys(r.phases).length > 1);
    if (!recorded.length) return [];
    return [[target, fault, String(recorded.length), ...PHASES.map((p) => {
      const values = recorded.flatMap((r) => (r.phases?.[p] === undefined ? [] : [r.phases[p]]));
      return values.length ? `${(median(values) / 1000).toFixed(2)} (${(Math.max(...values) / 1000).toFixed(2)})` : '-';
    })]];
  });
  if (!body.length) return 'no run recorded its failover steps';
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  return ['phases, median (max) in seconds:', line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}
