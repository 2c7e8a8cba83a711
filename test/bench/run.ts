// `npm run bench`: runs every benchmark and prints its figures beside their targets.
// Pass names to run only some: `npm run bench -- core pop3`.
import { cleanUp } from '../helpers/process.js';
import { machine, printTargets } from './lib.js';

// The console is measured as it runs for real: with React's production build. Set before the
// benchmarks (and so React) are loaded.
process.env.NODE_ENV ??= 'production';

const benches: Record<string, () => Promise<void>> = {
  core: async () => (await import('./core.js')).benchCore(),
  pop3: async () => (await import('./pop3.js')).benchPop3(),
  // Only the migrated-Maildir rows of pop3 (issue 32); a whole run has them from pop3.
  'pop3-migrated': async () => (await import('./pop3.js')).benchPop3Migrated(),
  smtp: async () => (await import('./smtp.js')).benchSmtp(),
  big: async () => (await import('./big.js')).benchBig(),
  rspamd: async () => (await import('./rspamd.js')).benchRspamd(),
  console: async () => (await import('./console.js')).benchConsole(),
  oversight: async () => (await import('./oversight.js')).benchOversight(),
  scale: async () => (await import('./scale.js')).benchScale(),
  startup: async () => (await import('./startup.js')).benchStartup(),
  cluster: async () => (await import('./cluster.js')).benchCluster(),
  logins: async () => (await import('./logins.js')).benchLogins(),
  submission: async () => (await import('./submission.js')).benchSubmission(),
  trail: async () => (await import('./trail.js')).benchTrail(),
  apply: async () => (await import('./apply.js')).benchApply(),
};

const chosen = process.argv.slice(2).filter((a) => a in benches);
process.stdout.write(`Machine: ${machine()}\n`);
try {
  const all = Object.keys(benches).filter((name) => name !== 'pop3-migrated');
  for (const name of chosen.length ? chosen : all) await benches[name]();
  printTargets();
  process.stdout.write(`\nDone on: ${machine()}\n`);
} finally {
  cleanUp();
}
