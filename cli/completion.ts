/** `pgo completion bash`: a bash completion script for the commands and their flags. */

/** Commands (first word) with their second words, for completion. */
export const COMMAND_TREE: Record<string, string[]> = {
  create: ['cluster', 'pgouser', 'pgorole', 'policy', 'user', 'schedule'],
  show: ['cluster', 'pgouser', 'pgorole', 'policy', 'user', 'backup', 'restore', 'workflow', 'schedule'],
  update: ['cluster', 'pgouser', 'pgorole', 'user'],
  delete: ['cluster', 'pgouser', 'pgorole', 'policy', 'user', 'label', 'backup', 'schedule'],
  scale: [], scaledown: [], failover: [], label: [], status: [], test: [], df: [], reload: [], version: [], help: [],
  backup: [], restore: [], load: [], apply: [], upgrade: [], watch: [], completion: ['bash'],
};

/** Common flags offered everywhere. */
export const COMMON_FLAGS = ['--namespace', '--output', '--selector', '--all', '--no-prompt', '--apiserver-url', '--pgo-ca-cert', '--help'];

/** The bash script. */
export function bashCompletion(): string {
  const firsts = Object.keys(COMMAND_TREE).join(' ');
  const cases = Object.entries(COMMAND_TREE)
    .filter(([, subs]) => subs.length)
    .map(([cmd, subs]) => `    ${cmd}) COMPREPLY=( $(compgen -W "${subs.join(' ')}" -- "$cur") ); return ;;`)
    .join('\n');
  return `# pgo bash completion: source <(pgo completion bash)
_pgo() {
  local cur=\${COMP_WORDS[COMP_CWORD]}
  if [[ "$cur" == -* ]]; then COMPREPLY=( $(compgen -W "${COMMON_FLAGS.join(' ')}" -- "$cur") ); return; fi
  if [ "$COMP_CWORD" -eq 1 ]; then COMPREPLY=( $(compgen -W "${firsts}" -- "$cur") ); return; fi
  if [ "$COMP_CWORD" -eq 2 ]; then
    case "\${COMP_WORDS[1]}" in
${cases}
    esac
  fi
}
complete -F _pgo pgo
`;
}
