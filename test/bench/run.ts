// `npm run bench`: runs every benchmark and prints its figures beside their targets.
// Pass names to run only some: `npm run bench -- core pop3`.
import { cleanUp } from '../helpers/process.js';
import { benchCore } from './core.js';
import { benchPop3 } from './pop3.js';
import { benchSmtp } from './smtp.js';

const benches: Record<string, () => Promise<void>> = {
  core: benchCore,
  pop3: benchPop3,
  smtp: benchSmtp,
};

const chosen = process.argv.slice(2).filter((a) => a in benches);
try {
  for (const name of chosen.length ? chosen : Object.keys(benches)) await benches[name]();
} finally {
  cleanUp();
}
