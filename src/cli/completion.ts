// Shell completion for bash and zsh, made from the same command definitions as --help:
// `npm run completion` writes contrib/completion/; a test checks they are current and work.
import type { Command } from 'commander';
import { program } from './main.js';

interface Node {
  path: string;
  words: string[];
}

/** What may follow each command path: its subcommands, or its options. */
function nodes(cmd: Command, path: string[] = []): Node[] {
  const options = cmd.options.map((o) => o.long ?? o.short ?? '').filter(Boolean);
  if (cmd.commands.length === 0) return [{ path: path.join(' '), words: [...options, '--help'] }];
  const subs = cmd.commands.map((c) => c.name());
  return [
    { path: path.join(' '), words: [...subs, ...(path.length ? [] : ['--help', '--version'])] },
    ...cmd.commands.flatMap((c) => nodes(c, [...path, c.name()])),
  ];
}

export function bashCompletion(): string {
  const cases = nodes(program())
    .map((n) => `    ${n.path ? `"${n.path}"|"${n.path} "*` : '""'}) words="${n.words.join(' ')}" ;;`)
    // The longest paths first, so "accounts add" wins over "accounts".
    .sort((a, b) => b.indexOf(')') - a.indexOf(')'));
  return `# bash completion for vmail: made by \`npm run completion\` from the command definitions.
# Install: cp vmail.bash /usr/share/bash-completion/completions/vmail

_vmail() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmd="" i words=""
  # The command path so far: the words before this one that are not options.
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i]} in
      -*) ;;
      *) cmd="\${cmd:+$cmd }\${COMP_WORDS[i]}" ;;
    esac
  done
  case "$cmd" in
${cases.join('\n')}
  esac
  mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}
complete -F _vmail vmail
`;
}

export function zshCompletion(): string {
  return `#compdef vmail
# zsh completion for vmail: the bash completion, through zsh's bashcompinit.
# Install: cp _vmail /usr/share/zsh/vendor-completions/_vmail (and vmail.bash beside it)
autoload -U +X bashcompinit && bashcompinit
source "\${0:A:h}/vmail.bash"
`;
}

// `node dist/src/cli/completion.js DIR` writes both files into DIR.
if (process.argv[1]?.endsWith('completion.js')) {
  const { writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const dir = process.argv[2] ?? 'contrib/completion';
  writeFileSync(join(dir, 'vmail.bash'), bashCompletion());
  writeFileSync(join(dir, '_vmail'), zshCompletion());
}
