import * as core from '@actions/core';
import { recordedPaths, removePath } from './cleanup.js';

/** Runs after the job, even when the main step failed: removes everything the main step recorded. */
async function post(): Promise<void> {
  const failures: string[] = [];
  for (const path of recordedPaths()) {
    try {
      await removePath(path);
    } catch (error) {
      failures.push(`${path}: ${(error as Error).message}`);
    }
  }
  if (failures.length > 0) core.setFailed(`cleanup could not remove:\n${failures.join('\n')}`);
}

void post();
