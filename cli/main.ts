/** pgo's entry point: the commands of cli/program.ts with this process's arguments. */
import { main } from './program.ts';

main(process.argv);
