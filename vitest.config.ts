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
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
