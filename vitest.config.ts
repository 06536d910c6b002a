import { readFile } from 'node:fs/promises';
import type { Plugin } from 'vitest/config';
import { defineConfig } from 'vitest/config';

/** `import text from './x.sh'` gives the file's text, as esbuild's `text` loader does in dist/. */
function shellScriptsAsText(): Plugin {
  return {
    name: 'shell-scripts-as-text',
    async load(id) {
      if (!id.endsWith('.sh')) return null;
      return `export default ${JSON.stringify(await readFile(id, 'utf8'))};`;
    },
  };
}

export default defineConfig({
  plugins: [shellScriptsAsText()],
  test: {
    setupFiles: ['test/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Tests by cost. `unit`: no root, no Debian package, no network (`npm run test:unit`, the quick
    // loop). `integration` (*.int.test.ts): root, a docker-registry, the runc sandbox, busybox,
    // skopeo, gcc or dist/. `npm test` runs both.
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: ['test/**/*.int.test.ts'] },
      },
      { extends: true, test: { name: 'integration', include: ['test/**/*.int.test.ts'] } },
    ],
  },
});
