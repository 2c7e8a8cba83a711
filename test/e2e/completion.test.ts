// Shell completion for real: bash with contrib/completion/vmail.bash sourced, COMP_WORDS and
// COMP_CWORD set as bash sets them, _vmail called, COMPREPLY read. File names come from the
// file system; domains and accounts from the running daemon (vmail __complete), and nothing,
// quickly and without a word on the terminal, when the daemon is down.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, ROOT, runCli, startDaemon, tempDir, VMAIL } from '../helpers/daemon.js';

const run = promisify(execFile);

/** What bash offers for `line` (a trailing space: a new, empty word), as _vmail leaves COMPREPLY. */
async function complete(line: string, opts: { cwd?: string; socket?: string } = {}) {
  const script = `source "${join(ROOT, 'contrib/completion/vmail.bash')}"
read -ra COMP_WORDS <<< "$LINE"; [[ $LINE == *" " ]] && COMP_WORDS+=("")
COMP_WORDS[0]="$VMAIL_BIN"; COMP_CWORD=$((\${#COMP_WORDS[@]}-1))
_vmail; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const { stdout, stderr } = await run('bash', ['-c', script], {
    cwd: opts.cwd,
    env: { ...process.env, LINE: line, VMAIL_BIN: VMAIL, VMAIL_SOCKET: opts.socket ?? '/nonexistent/control.sock' },
  });
  return { words: stdout.split('\n').filter(Boolean).sort(), stderr };
}

describe('shell completion', () => {
  let d: DaemonHandle;
  const files = tempDir('vmail-complete-');
  beforeAll(async () => {
    d = await startDaemon({ domains: ['example.test', 'bücher.test'] });
    for (const a of ['sales@example.test', 'salt@example.test', 'info@bücher.test'])
      expect((await d.cli(['accounts', 'add', a, '--password-stdin'], 'password-1\n')).code).toBe(0);
    expect((await d.cli(['forwards', 'add', 'team@example.test', 'sales@example.test'])).code).toBe(0);
    expect((await d.cli(['pending', 'apply'])).code).toBe(0);
    writeFileSync(join(files, 'mailboxes.csv'), 'name,password\n');
    writeFileSync(join(files, 'map.txt'), '');
    writeFileSync(join(files, 'other.csv'), '');
    mkdirSync(join(files, 'maildirs'));
  });

  it('completes file names for accounts import, and directories for --maildirs', async () => {
    expect((await complete('vmail accounts import ma', { cwd: files })).words).toEqual([
      'mailboxes.csv',
      'maildirs',
      'map.txt',
    ]);
    expect((await complete('vmail import dovecot --maildirs ma', { cwd: files })).words).toEqual(['maildirs']);
    expect((await complete('vmail accounts import --domain example.test o', { cwd: files })).words).toEqual([
      'other.csv',
    ]);
  });

  it('completes domains (both forms of an international one) from the daemon', async () => {
    expect((await complete('vmail domains settings ', { socket: d.socket })).words).toEqual([
      'bücher.test',
      'example.test',
      'xn--bcher-kva.test',
    ]);
    expect((await complete('vmail domains quota ex', { socket: d.socket })).words).toEqual(['example.test']);
    expect((await complete('vmail accounts list --domain xn', { socket: d.socket })).words).toEqual([
      'xn--bcher-kva.test',
    ]);
    // The socket named on the line is the one asked.
    expect((await complete(`vmail --socket ${d.socket} domains remove b`)).words).toEqual(['bücher.test']);
    expect((await complete(`vmail domains remove --socket ${d.socket} b`)).words).toEqual(['bücher.test']);
  });

  it('completes account names, and forwards for the forwards commands', async () => {
    expect((await complete('vmail accounts passwd sal', { socket: d.socket })).words).toEqual([
      'sales@example.test',
      'salt@example.test',
    ]);
    expect((await complete('vmail accounts quota in', { socket: d.socket })).words).toEqual([
      'info@xn--bcher-kva.test',
    ]);
    // The second argument of quota is a size: nothing is offered.
    expect((await complete('vmail accounts quota sales@example.test ', { socket: d.socket })).words).toEqual([]);
    expect((await complete('vmail forwards remove ', { socket: d.socket })).words).toEqual(['team@example.test']);
    // Commands and options complete as before.
    expect((await complete('vmail accounts add sales --pa')).words).toEqual(['--password-stdin']);
    expect((await complete('vmail acc')).words).toEqual(['accounts']);
  });

  it('offers nothing, quickly and silently, when the daemon is down or the socket is not one', async () => {
    const started = Date.now();
    const down = await complete('vmail domains settings ');
    expect(down).toEqual({ words: [], stderr: '' });
    const notSocket = await complete('vmail accounts passwd ', { socket: join(files, 'map.txt') });
    expect(notSocket).toEqual({ words: [], stderr: '' });
    // Two TABs, two node starts: well under the client's own 3 s connect timeout each.
    expect(Date.now() - started).toBeLessThan(20_000);
    // The hidden helper itself: exit 0 and no output, and not in --help.
    const helper = await runCli(['__complete', 'domains'], { env: { VMAIL_SOCKET: '/nonexistent/control.sock' } });
    expect(helper).toEqual({ code: 0, stdout: '', stderr: '' });
    expect((await runCli(['--help'])).stdout).not.toContain('__complete');
  });

  it('passes hostile words through as words: quotes, globs and $( ) are not run', async () => {
    const marker = join(files, 'pwned');
    const r = await complete(`vmail accounts import $(touch${'\t'}${marker}) '*' "x`, { cwd: files });
    expect(r.stderr).toBe('');
    const { existsSync } = await import('node:fs');
    expect(existsSync(marker)).toBe(false);
  });

  afterAll(async () => {
    await d?.stop();
  });
});
