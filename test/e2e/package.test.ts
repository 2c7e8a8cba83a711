// The npm package as an admin installs it: `npm pack`, then `npm install -g` of the tarball into
// a temp prefix, then the installed `vmail` runs: --version, its manual, a daemon that answers,
// the console's bundle.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { LOOPBACK_LISTENERS, ROOT, tempDir, waitFor } from '../helpers/daemon.js';

it('packs what an install needs and nothing else, installs globally, and runs', async () => {
  const dir = tempDir('vmail-pack-');
  // dist/ is built (npm test compiles first); the tarball takes it as it is.
  execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT, stdio: 'ignore' });
  const tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!);
  const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n');
  for (const f of [
    'package/bin/vmail.js',
    'package/dist/src/cli/main.js',
    'package/dist/screens/app/app.js',
    // The console as `vmail console` loads it (the bundle npm run build makes).
    'package/dist/console/run.js',
    'package/man/man8/vmail.8',
    'package/contrib/fail2ban/filter.d/vmail.conf',
    'package/fixtures/demo/seed.json',
  ]) {
    expect(files, f).toContain(f);
  }
  expect(files.filter((f) => /^package\/(test|dist\/test|src)\//.test(f) || f.includes('attachment-5mb'))).toEqual([]);

  const prefix = join(dir, 'prefix');
  execFileSync(
    'npm',
    ['install', '-g', '--prefix', prefix, tarball, '--allow-scripts=sqlite3', '--no-audit', '--no-fund'],
    { stdio: 'ignore', timeout: 400_000 },
  );
  const vmail = join(prefix, 'bin/vmail');
  expect(execFileSync(vmail, ['--version'], { encoding: 'utf8' })).toBe(
    `vmail ${JSON.parse(execFileSync('npm', ['pkg', 'get', 'version'], { cwd: ROOT, encoding: 'utf8' }))}\n`,
  );
  // npm links the manual into the prefix's share/man, where man(1) finds it.
  expect(existsSync(join(prefix, 'share/man/man8/vmail.8'))).toBe(true);
  const manual = execFileSync('man', ['-P', 'cat', '8', 'vmail'], {
    encoding: 'utf8',
    env: { ...process.env, MANPATH: join(prefix, 'share/man'), MANWIDTH: '80' },
  });
  expect(manual).toMatch(/vmail daemon/);

  const data = join(dir, 'data');
  const d = spawn(vmail, ['daemon', '--data-dir', data, '--domain', 'example.test', ...LOOPBACK_LISTENERS], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  d.stdout.on('data', (x) => (out += x));
  d.stderr.on('data', (x) => (out += x));
  try {
    await waitFor(() => out.includes('vmail daemon ready'), 'the installed daemon', 20_000);
    const status = JSON.parse(execFileSync(vmail, ['status', '--json', '--data-dir', data], { encoding: 'utf8' }));
    expect(status.domains).toEqual(['example.test']);
    // The installed console loads its bundle before it looks for a terminal, which it has not here.
    const opened = spawnSync(vmail, ['console', '--socket', join(data, 'control.sock')], { encoding: 'utf8' });
    expect(opened.stderr).toContain('the console needs a terminal');
    expect(opened.status).toBe(1);
  } finally {
    d.kill('SIGTERM');
    await new Promise((r) => d.on('exit', r));
  }
}, 600_000);
