/**
 * The life of one load (a pgtask of type load): a Job task (./job-task.ts). `starting` applies the task's
 * policies first (each an apply-policy task, waited for) and checks the volume; the Job loads the file in one
 * transaction, so the table gets every row or none.
 */
import { jobTaskMachine } from './job-task.ts';

export const loadMachine = jobTaskMachine('load');
