// Bundles the console into dist/console/ at build time: Ink, React and their 200-odd modules in
// one file load in about 0.3 s where resolving and reading each one took about 1 s, and the
// console's first frame waits for them. Run by `npm run build` after tsc.
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

/**
 * Ink's Output, with its frames sharing their caches (shared/frame-caches.ts says why): the call
 * is put at the end of Ink's output.js. An Ink whose output.js no longer declares the class
 * fails the build here, rather than leaving the console slow unnoticed.
 */
const sharedFrameCaches: Plugin = {
  name: 'shared-frame-caches',
  setup(b) {
    b.onLoad({ filter: /[\\/]ink[\\/]build[\\/]output\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (!source.includes('export default class Output'))
        throw new Error(`${args.path}: no class Output (another Ink?): see screens/shared/frame-caches.ts`);
      const caches = fileURLToPath(new URL('./shared/frame-caches.js', import.meta.url));
      return {
        contents: `${source}\nimport { shareFrameCaches } from ${JSON.stringify(caches)};\nshareFrameCaches(Output);\n`,
        loader: 'js',
      };
    });
  },
};

// Chunk names carry a hash of their content: last build's would be left beside this one's.
rmSync('dist/console', { recursive: true, force: true });
await build({
  entryPoints: ['dist/screens/run.js'],
  outdir: 'dist/console',
  bundle: true,
  platform: 'node',
  format: 'esm',
  // Ink loads its devtools (and react-devtools-core, not installed) only with DEV=true: kept in
  // a chunk of its own that nothing else loads.
  splitting: true,
  external: ['react-devtools-core'],
  // The console always runs React's production build (see `vmail console`).
  define: { 'process.env.NODE_ENV': '"production"' },
  // The CommonJS packages inside call require() for Node's own modules.
  banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  plugins: [sharedFrameCaches],
  logLevel: 'warning',
});
