/**
 * Running a pgpolicy on a cluster (a pgtask of type apply-policy, from `pgo apply`, `spec.policies` or
 * kubectl). Its limits and messages are defined here once; the CRD, the API and `pgo` take them from here.
 */
import { z } from 'zod';
import { dnsLabel } from './common.ts';

/**
 * An applied policy is recorded as the label `<policy>=pgpolicy` on the pgcluster (v4's label, so `pgo show
 * cluster -s p1=pgpolicy` finds them), in the cluster's status.policies and in the pgpolicy's appliedTo.
 */
export const POLICY_LABEL_VALUE = 'pgpolicy';

export const POLICY_MESSAGES = {
  noPolicy: (ns: string, p: string) => `pgpolicy ${ns}/${p} does not exist: create it first (pgo create policy ${p} --in-file FILE.sql)`,
  applied: (p: string, c: string) => `policy ${p} is applied to ${c} already (label ${p}=${POLICY_LABEL_VALUE}); remove the label to run it again`,
  noPrimary: (c: string) => `cluster ${c} has no ready primary; try again once pgo show cluster ${c} says it is Ready`,
  ownTransaction: 'the policy ended the transaction it runs in (COMMIT or ROLLBACK in its SQL): what came before that is committed, the rest ran on its own; a policy must be plain SQL without transaction control',
} as const;

/** What an apply-policy task runs. */
export const policyApply = z.strictObject({
  name: dnsLabel.describe('the pgpolicy to run, in the task’s namespace'),
});

/**
 * Progress of an apply-policy task. `xid` is the transaction the SQL runs in, recorded before the SQL: after
 * an operator restart, whether that transaction committed (txid_status) says whether to run it again.
 */
export const policyApplyStatus = z.strictObject({
  step: z.enum(['applying', 'recording', 'done']).optional(),
  xid: z.string().regex(/^\d+$/).optional().describe('the transaction the policy ran in'),
  sqlstate: z.string().optional().describe('the SQLSTATE of the error, when PostgreSQL refused the policy'),
});

export type PolicyApply = z.output<typeof policyApply>;
export type PolicyApplyStatus = z.output<typeof policyApplyStatus>;
