/** The pgpolicies resource: a named SQL script that `pgo apply` runs on clusters. */
import { z } from 'zod';
import { conditions } from './common.ts';

/** Desired state of a pgpolicy. */
export const pgPolicySpec = z.strictObject({
  sql: z.string().min(1).max(1_000_000).describe('SQL run in one transaction on the primary'),
  database: z.string().min(1).max(63).optional().describe("database to run it in; the cluster's initial database when unset"),
});

/** Observed state of a pgpolicy. */
export const pgPolicyStatus = z.strictObject({
  appliedTo: z.array(z.string()).optional().describe('clusters the policy was applied to'),
  message: z.string().optional(),
  conditions: conditions.optional(),
});

export type PgPolicySpec = z.output<typeof pgPolicySpec>;
export type PgPolicyStatus = z.output<typeof pgPolicyStatus>;
