// Shell completion for bash and zsh, made from the same command definitions as --help:
// `npm run completion` writes contrib/completion/; a test checks they are current and work.
import type { Command } from 'commander';
import { program } from './main.js';

interface Node {
  path: string;
  words: string[];
  /** A command that takes arguments: what each one is (the last repeats when it is variadic). */
  args?: string[];
}

/** What a value named by its placeholder is: a file, a directory, a domain, an address; '-' nothing to offer. */
function kindOf(placeholder: string, group: string): string {
  const p = placeholder.replace(/[<>[\]]/g, '').toUpperCase();
  if (/^(FILE|PATH|PEM)/.test(p)) return 'file';
  if (/^(DIR|ROOT)$/.test(p)) return 'dir';
  if (p === 'D' || p === 'DOMAIN') return 'domains';
  if (/^(NAME|OLD)@?DOMAIN$/.test(p) || p === 'NAME@DOMAIN') return group === 'forwards' ? 'forwards' : 'accounts';
  return '-';
}

/** What may follow each command path: its subcommands, or its options and what its arguments are. */
function nodes(cmd: Command, path: string[] = []): Node[] {
  const options = cmd.options.map((o) => o.long ?? o.short ?? '').filter(Boolean);
  if (cmd.commands.length === 0) {
    const args = cmd.registeredArguments.map((a) => kindOf(a.name(), path[0] ?? ''));
    return [{ path: path.join(' '), words: [...options, '--help'], args }];
  }
  const shown = cmd.commands.filter((c) => !c.name().startsWith('__'));
  const subs = shown.map((c) => c.name());
  return [
    { path: path.join(' '), words: [...subs, ...(path.length ? [] : ['--help', '--version'])] },
    ...shown.flatMap((c) => nodes(c, [...path, c.name()])),
  ];
}

/** Every option that takes a value, with what its value is (the first meaning found wins). */
function valueOptions(cmd: Command, into = new Map<string, string>()): Map<string, string> {
  for (const o of cmd.options) {
    if (!(o.required || o.optional) || !o.long || into.has(o.long)) continue;
    const placeholder = /<([^>]+)>|\[([^\]]+)\]/.exec(o.flags);
    const kind = kindOf(placeholder?.[1] ?? placeholder?.[2] ?? '', '');
    // The daemon's --domain NAME, the other commands' --domain D: a hosted domain either way.
    into.set(o.long, o.long === '--domain' ? 'domains' : kind);
  }
  for (const c of cmd.commands) valueOptions(c, into);
  return into;
}

const caseOf = (path: string, body: string) => `    ${path ? `"${path}"|"${path} "*` : '""'}) ${body} ;;`;

export function bashCompletion(): string {
  const all = nodes(program());
  // The longest paths first, so "accounts add" wins over "accounts".
  const longestFirst = (a: string, b: string) => b.indexOf(')') - a.indexOf(')');
  const cases = all.map((n) => caseOf(n.path, `words="${n.words.join(' ')}"`)).sort(longestFirst);
  const leaves = all.filter((n) => n.args).map((n) => `"${n.path}") args="${n.args!.join(' ')}" ;;`);
  const values = valueOptions(program());
  const valueCases = [...values].map(([flag, kind]) => `    ${flag}) kind=${kind} ;;`);
  return `# bash completion for vmail: made by \`npm run completion\` from the command definitions.
# Install: cp vmail.bash /usr/share/bash-completion/completions/vmail
# Domains and accounts are asked of the running daemon (vmail __complete, quiet when it is down).

# _vmail_offer KIND: COMPREPLY for a value of that kind, matching $cur.
_vmail_offer() {
  local kind=$1
  case $kind in
    file) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
    dir) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
    domains|accounts|forwards)
      local found
      found=$("\${COMP_WORDS[0]}" __complete "$kind" "$cur" "\${pass[@]}" 2>/dev/null)
      mapfile -t COMPREPLY < <(compgen -W "$found" -- "$cur") ;;
    *) COMPREPLY=() ;;
  esac
}

_vmail() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} cmd="" i words="" args="" kind="" n=0 leaf=""
  local -a pass=()
  # The command path so far, the arguments after it, and the options that say where the daemon is.
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i]} in
      --socket|--data-dir|--config) pass+=("\${COMP_WORDS[i]}" "\${COMP_WORDS[i+1]}"); ((i++)) ;;
      -*)
        kind=""
        case \${COMP_WORDS[i]} in
${valueCases.map((c) => `    ${c}`).join('\n')}
        esac
        # An option's value is not part of the command path.
        [[ -n $kind ]] && ((i++)) ;;
      *)
        if [[ -n $leaf ]]; then ((n++)); else cmd="\${cmd:+$cmd }\${COMP_WORDS[i]}"; fi
        args=""
        case "$cmd" in
${leaves.map((l) => `          ${l}`).join('\n')}
        esac
        [[ -n $args || -n $leaf ]] && leaf=1 ;;
    esac
  done
  # The value of an option.
  kind=""
  case $prev in
${valueCases.join('\n')}
  esac
  if [[ -n $kind && $prev == -* ]]; then _vmail_offer "$kind"; return; fi
  # An argument of a command that takes some: a file, a domain, an account.
  if [[ -n $leaf && $cur != -* ]]; then
    local -a kinds=($args)
    if ((\${#kinds[@]})); then
      ((n >= \${#kinds[@]})) && n=$((\${#kinds[@]} - 1))
      _vmail_offer "\${kinds[n]}"
    fi
    return
  fi
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
