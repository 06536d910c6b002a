import * as core from '@actions/core';
import { pathsRecordedByMain, removePaths } from './cleanup.js';

// Runs after the job, even when the main step failed or was cancelled: removes the credentials
// directory, sandbox upper directories and temporary roots that the main step recorded.
removePaths(pathsRecordedByMain()).catch((error: unknown) => core.setFailed((error as Error).message));
