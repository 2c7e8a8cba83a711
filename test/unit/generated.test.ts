// The files made from the command definitions (the manual page, shell completion) are current,
// the manual is clean to mandoc, and completion completes.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bashCompletion, zshCompletion } from '../../src/cli/completion.js';
import { manPage } from '../../src/cli/manpage.js';
import { ROOT } from '../helpers/process.js';

const withoutDate = (page: string) => page.replace(/^\.Dd .*$/m, '.Dd');

describe('vmail(8)', () => {
  it('is what the command definitions make (npm run man writes it)', () => {
    expect(withoutDate(readFileSync(join(ROOT, 'man/man8/vmail.8'), 'utf8'))).toBe(withoutDate(manPage()));
  });
  it('has nothing mandoc warns about', () => {
    const out = execFileSync('mandoc', ['-T', 'lint', '-W', 'warning', join(ROOT, 'man/man8/vmail.8')], {
      encoding: 'utf8',
    });
    expect(out).toBe('');
  });
  it('names every setting and every exit status', () => {
    const page = manPage();
    for (const key of ['data-dir', 'relay', 'tls-cert', 'log-level', 'user', 'hostname'])
      expect(page).toContain(`.It Fl -${key} Ar`);
    for (const code of [0, 1, 64, 69, 78]) expect(page).toContain(`.It ${code}\n`);
  });
});

describe('shell completion', () => {
  it('is what the command definitions make (npm run completion writes it)', () => {
    expect(readFileSync(join(ROOT, 'contrib/completion/vmail.bash'), 'utf8')).toBe(bashCompletion());
    expect(readFileSync(join(ROOT, 'contrib/completion/_vmail'), 'utf8')).toBe(zshCompletion());
  });
  it('completes commands, subcommands and options in bash', () => {
    const complete = (line: string) =>
      execFileSync(
        'bash',
        [
          '-c',
          `source "${join(ROOT, 'contrib/completion/vmail.bash')}"; read -ra COMP_WORDS <<< "$LINE"; [[ $LINE == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _vmail; echo "\${COMPREPLY[*]}"`,
        ],
        { encoding: 'utf8', env: { ...process.env, LINE: line } },
      ).trim();
    expect(complete('vmail acc')).toBe('accounts');
    expect(complete('vmail accounts ')).toBe('list add passwd import export remove quota suspend rename resume limits');
    expect(complete('vmail accounts add sales --pa')).toBe('--password-stdin');
    expect(complete('vmail pending list --j')).toBe('--json');
    expect(complete('vmail daemon --tls-')).toBe('--tls-cert --tls-key');
  });
});

describe('the console key table', () => {
  it('in the README is what screens/shared/keys.ts makes (npm run keys writes it), and Help draws from it', async () => {
    const { keyHelpLines, keyTable, KEY_TABLE_END, KEY_TABLE_START } = await import('../../screens/shared/keys.js');
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const start = readme.indexOf(KEY_TABLE_START);
    const end = readme.indexOf(KEY_TABLE_END);
    expect(start).toBeGreaterThan(0);
    expect(readme.slice(start + KEY_TABLE_START.length, end).trim()).toBe(keyTable());
    // Help opened on a screen starts with that screen's keys, all of them; every key is in it.
    const { own, rest } = keyHelpLines('forwards');
    expect(own[0]).toBe('Keys on Email Forwarding');
    expect(own.join('\n')).toMatch(/e or Enter\s+edit/);
    expect(own.join('\n')).toContain('Ctrl-U/Ctrl-K/Ctrl-W');
    for (const row of keyTable().split('\n').slice(2)) {
      const keys = /\| `(.*)` \|/.exec(row)?.[1].replace(/\\\|/g, '|') ?? '';
      expect(
        [...own, ...rest].some((l) => l.includes(keys)),
        keys,
      ).toBe(true);
    }
  });
});
