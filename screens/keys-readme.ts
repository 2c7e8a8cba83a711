// `npm run keys`: writes the README's console key table from screens/shared/keys.ts (the list
// the in-app help is drawn from), so the two never differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withKeyTable } from './shared/keys.js';

const readme = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'README.md');
writeFileSync(readme, withKeyTable(readFileSync(readme, 'utf8')));
