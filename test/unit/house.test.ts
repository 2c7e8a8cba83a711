// The house rules of issue 25, measured with TypeScript's parser (test/helpers/house.ts): short
// files and functions, no import circles, folders at the src/ top level, no catch that drops an
// error without saying why.
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/support/package-root.js';
import { inspectHouse, MAX_TOP_LEVEL_FILES } from '../helpers/house.js';

describe('the house rules', () => {
  const report = inspectHouse(PACKAGE_ROOT);

  it('no source file in src/ or screens/ is over 500 lines', () => {
    expect(report.longFiles).toEqual([]);
  });

  it('no function is over 120 lines', () => {
    expect(report.longFunctions).toEqual([]);
  });

  it('no two files import each other, directly or round a circle', () => {
    expect(report.circles).toEqual([]);
  });

  it('the src/ top level holds folders and at most two entry files', () => {
    expect(report.topLevelFiles.length).toBeLessThanOrEqual(MAX_TOP_LEVEL_FILES);
  });

  it('each room imports only the rooms it may (ROOMS in test/helpers/house.ts)', () => {
    expect(report.strayImports).toEqual([]);
  });

  it('every catch that drops its error says why', () => {
    expect(report.silentCatches).toEqual([]);
  });
});
