import { runLocal } from './local.js';
import { exitOnUnexpectedFailure } from './unexpected-failure.js';

exitOnUnexpectedFailure();
runLocal(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
