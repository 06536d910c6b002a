/**
 * A process wired as src/index.ts wires the action, which then fails outside any awaited chain:
 * `error-event` emits an 'error' nobody listens to from a timer, `rejection` leaves a rejected
 * promise unhandled.
 */
import { EventEmitter } from 'node:events';
import { enterStage, exitOnUnexpectedFailure } from '../../src/unexpected-failure.js';

exitOnUnexpectedFailure();
enterStage('installing the tools');
const kind = process.argv[2];
setTimeout(() => {
  if (kind === 'error-event') new EventEmitter().emit('error', new Error('an error event nobody listens to'));
  else void Promise.reject(new Error('a rejection nobody awaits'));
});
// Holds the event loop open, as a running download or child process would: the exit must be forced.
setInterval(() => undefined, 60_000);
