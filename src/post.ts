import { stopRecordedSandboxes } from './build/sandbox.js';
import { pathsRecordedByMain, removePaths } from './cleanup.js';
import { reporter } from './reporter.js';

// Runs after the job, even when the main step failed or was cancelled: first stops any sandbox
// still running (its processes would keep writing into what is removed next), then removes the
// credentials directory, sandbox work folders and temporary roots that the main step recorded.
stopRecordedSandboxes()
  .then(() => removePaths(pathsRecordedByMain()))
  .catch((error: unknown) => reporter().setFailed((error as Error).message));
