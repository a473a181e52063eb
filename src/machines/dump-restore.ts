/**
 * The life of one pg_dump restore (a restore pgtask with spec.restore.pgdump): a Job task (./job-task.ts).
 * pg_restore runs in one transaction, in a Job next to the data: it applies all of the dump or nothing.
 */
import { jobTaskMachine } from './job-task.ts';

export const dumpRestoreMachine = jobTaskMachine('dumpRestore');
