// Bundles the action's entry points into dist/ with esbuild. The esbuild version is pinned
// exactly in package.json, so the same sources always give the same bytes; `--check` builds
// into a temporary folder and fails when the committed dist/ differs from it.
import { build } from 'esbuild';
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const entryPoints = { main: 'src/index.ts', post: 'src/post.ts', local: 'src/local-cli.ts' };

/**
 * @actions/core imports its OIDC client, which imports @actions/http-client and with it undici,
 * whatever the caller uses; neither package declares itself free of side effects, so esbuild keeps
 * and runs them. They have none at load time: said so, a bundle that neither asks for an ID token
 * nor makes a request through them leaves them out (the post step: 17 kB instead of 576 kB, about
 * 55 ms less to start), and one that uses them keeps all it uses.
 */
const loadedOnlyWhenUsed = {
  name: 'loaded-only-when-used',
  setup(builder) {
    builder.onResolve({ filter: /^(@actions\/http-client|undici)$/ }, async (args) => {
      if (args.pluginData?.resolving) return undefined;
      const { path, errors } = await builder.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: { resolving: true },
      });
      return errors.length > 0 ? { errors } : { path, sideEffects: false };
    });
  },
};

async function bundle(outdir) {
  await build({
    entryPoints: Object.fromEntries(Object.entries(entryPoints).filter(([, path]) => existsSync(path))),
    outdir,
    bundle: true,
    platform: 'node',
    // The runner uses node24; Node 20 stays supported for self-hosted runners and local runs.
    target: 'node20',
    // CommonJS, marked so by dist/package.json: Node loads it without the ES module loader's
    // work (a facade per built-in module), ~15 ms less for main and for post each.
    format: 'cjs',
    // import.meta means nothing in CommonJS: bundled ES modules that read import.meta.url (the
    // Azure storage code under @actions/cache makes a require() of it) get this file's URL.
    banner: { js: 'const __bspImportMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
    define: { 'import.meta.url': '__bspImportMetaUrl' },
    // The sandbox launcher is a real shell script (shellcheck reads it); it is bundled as a string.
    loader: { '.sh': 'text' },
    legalComments: 'linked',
    sourcemap: false,
    // White space and syntax only: names stay as written, for stack traces; ~60 ms less to load.
    minifyWhitespace: true,
    minifySyntax: true,
    plugins: [loadedOnlyWhenUsed],
    logLevel: 'warning',
  });
  // Any other import.meta (dirname, resolve…) would be an empty object in CommonJS: refused here.
  for (const file of listFiles(outdir).filter((name) => name.endsWith('.js')))
    if (readFileSync(join(outdir, file), 'utf8').includes('import_meta'))
      throw new Error(`${file} reads import.meta beyond import.meta.url, which CommonJS does not have`);
  // The repository's package.json says "module" for src/ and the tests; the bundles are not.
  writeFileSync(join(outdir, 'package.json'), '{ "type": "commonjs" }\n');
}

function listFiles(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .sort();
}

if (process.argv.includes('--check')) {
  const fresh = mkdtempSync(join(tmpdir(), 'bsp-dist-'));
  try {
    await bundle(fresh);
    const expected = listFiles(fresh);
    const actual = existsSync('dist') ? listFiles('dist') : [];
    const stale = [...new Set([...expected, ...actual])].filter(
      (file) =>
        !expected.includes(file) ||
        !actual.includes(file) ||
        !readFileSync(join(fresh, file)).equals(readFileSync(join('dist', file))),
    );
    if (stale.length > 0) {
      console.error(`dist/ is stale (${stale.join(', ')}): run \`npm run build\` and commit dist/.`);
      process.exit(1);
    }
    console.log('dist/ is in sync with src/.');
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
} else {
  rmSync('dist', { recursive: true, force: true });
  await bundle('dist');
}
