/** Names the API accepts (resources, generated objects, SQL identifiers), shared by its schema files. */
import { z } from 'zod';
import { dnsLabel } from '../crd/common.ts';
/** A resource name: a DNS-1123 label. Rejects path separators, dots, quotes and SQL. */
export const name = dnsLabel;

/** A generated object name (tasks): a DNS-1123 subdomain without dots, up to 253 characters. */
export const objectName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be lower-case letters, digits and '-', e.g. 'hippo-failover-x7k2'");

/** A PostgreSQL role or database name; plain identifiers only, so no quoting games reach SQL. */
export const sqlName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z_][a-z0-9_]*$/, "must be a lower-case SQL identifier (letters, digits, '_'), e.g. 'userdb'");

