/**
 * Failover benchmark: for each target (pg-operator, pg-operator-sync, patroni-default, patroni-tuned) and each
 * fault of the primary (crash, freeze, pod-delete, node-stop, net-cut), under a continuous write load through
 * the primary Service, measures RTO (fault → first acknowledged commit after it) and acknowledged commits
 * lost, then prints one table. The writer runs in the network namespace of a node other than the primary's and
 * connects to the primary Service's ClusterIP (kube-proxy of that node), as an application pod would. Runs on the local cluster; it injects node faults, so run it under the shared
 * lock: flock /tmp/pgo-cluster.lock npx tsx bench/failover.ts [--runs 5] [--targets a,b] [--faults a,b]
 *   [--recovery 90] (seconds before a run counts as "no recovery")
 */
import { parseArgs } from 'node:util';
import { localCluster } from '../tests/harness/cluster.ts';
import { PATRONI_DEFAULT, PATRONI_TUNED } from './patroni/manifests.ts';
import { FAULTS, restoreAll, type Fault } from './failover/faults.ts';
import { OperatorHost, operatorTarget } from './failover/operator-target.ts';
import { patroniTarget } from './failover/patroni-target.ts';
import { runOnce, type RunResult } from './failover/run.ts';
import { formatPhaseTable, formatPhases, formatTable, type Row } from './failover/table.ts';
import type { Target } from './failover/target.ts';

const operator = new OperatorHost('/tmp/pg-operator-bench-failover.log');
const TARGETS: Record<string, () => Target> = {
  'pg-operator': () => operatorTarget('pg-operator', operator, false),
  'pg-operator-sync': () => operatorTarget('pg-operator-sync', operator, true),
  'patroni-default': () => patroniTarget('patroni-default', PATRONI_DEFAULT),
  'patroni-tuned': () => patroniTarget('patroni-tuned', PATRONI_TUNED),
};

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    targets: { type: 'string', default: Object.keys(TARGETS).join(',') },
    faults: { type: 'string', default: FAULTS.join(',') },
    recovery: { type: 'string', default: '90' },
  },
});
const runs = Number(opts.runs);
const targetNames = opts.targets.split(',');
const faults = opts.faults.split(',') as Fault[];
for (const t of targetNames) if (!TARGETS[t]) throw new Error(`unknown target ${t} (known: ${Object.keys(TARGETS).join(', ')})`);
for (const f of faults) if (!FAULTS.includes(f)) throw new Error(`unknown fault ${f} (known: ${FAULTS.join(', ')})`);
const limits = { recoveryMs: Number(opts.recovery) * 1000, healthyMs: 180_000 };

const c = localCluster();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`${signal}: undoing faults in effect; namespaces bench-* may be left behind`);
    void restoreAll().finally(() => operator.stop()).finally(() => process.exit(130));
  });
}
const rows: Row[] = [];
const describe = (r: RunResult) => r.error ? `failed before the fault: ${r.error}` :
  `${r.rtoMs === undefined ? 'no recovery' : `RTO ${(r.rtoMs / 1000).toFixed(2)} s`}, ${r.acked} acked, lost ${r.lost ?? '?'}, primary ${r.from} → ${r.to ?? '?'}${r.unhealthy ? ` (${r.unhealthy})` : ''}`;
try {
  for (const name of targetNames) {
    const target = TARGETS[name]!();
    console.log(`${name}: deploying in ${target.namespace}`);
    try {
      await target.deploy(c);
      for (const fault of faults) {
        const row: Row = { target: name, fault, runs: [] };
        rows.push(row);
        for (let i = 1; i <= runs; i++) {
          const result = await runOnce(c, target, fault, limits);
          row.runs.push(result);
          console.log(`  ${fault} #${i}: ${describe(result)}`);
          if (result.phases) console.log(`    ${formatPhases(result.phases)}`);
          if (result.unhealthy || result.error) {
            console.log(`  ${name}: redeploying`);
            await target.teardown(c);
            await target.deploy(c);
          }
        }
      }
    } finally {
      await target.teardown(c).catch((err: unknown) => console.error(`teardown of ${name}: ${String(err)}`));
    }
  }
} finally {
  await operator.stop();
  console.log(`\n${formatTable(rows)}\n\n${formatPhaseTable(rows)}`);
}
