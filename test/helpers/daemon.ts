// The daemon helpers for tests: every daemon a test file starts is killed, and every temp dir
// removed, when the file ends.
import { afterAll } from 'vitest';
import { cleanUp } from './process.js';

export * from './process.js';

afterAll(cleanUp);
